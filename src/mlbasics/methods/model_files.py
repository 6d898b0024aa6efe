"""Model files of the reference methods: skops archives (no pickle), safe to load and reproducible.

- Safe: loading refuses any type outside those the method declares its estimator is made of (beyond what skops
  trusts by itself), so a tampered or foreign file cannot make the load run code.
- Reproducible: skops names an archive's members after object ids, which differ from process to process, and
  numpy writes a record array's padding as whatever memory held; the archive is rewritten canonically (ids
  renumbered in the order they appear, padding zeroed, fixed zip times), so the same fit gives the same bytes - as
  the MLP's weights are, and as DVC's content hashes want.
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from pathlib import Path

from mlbasics.core.formats import FormatError


class ModelFileError(FormatError):
    """A model file that is not what this project writes (tampered with, or another program's)."""


# where skops' schema names an object id: an object's own (`"__id__": 1234`) or its array's member file
IDS = re.compile(rb'("__id__": )(\d+)|("file": ")(\d+)(\.)')


def canonical_skops(data: bytes) -> bytes:
    """skops' archive made reproducible: its members are named after object ids (which differ from process to
    process), so the ids are renumbered in the order they appear in the schema (text order: skops writes it in a
    fixed order) and the zip times fixed - the same fit gives the same bytes. The content is otherwise unchanged:
    skops loads it as it loads its own."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = archive.read("schema.json")
        members = {name: archive.read(name) for name in archive.namelist() if name != "schema.json"}
    numbers: dict[bytes, bytes] = {}

    def number(old: bytes) -> bytes:
        return numbers.setdefault(old, str(len(numbers) + 1).encode())

    def renumber(match: re.Match) -> bytes:
        if match.group(1):
            return match.group(1) + number(match.group(2))
        return match.group(3) + number(match.group(4)) + match.group(5)

    schema = IDS.sub(renumber, schema)
    renamed = {
        number(name.partition(".")[0].encode()).decode() + "." + name.partition(".")[2]: _without_padding(content)
        for name, content in members.items()
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, content in [
            ("schema.json", schema),
            *sorted(renamed.items(), key=lambda item: int(item[0].partition(".")[0])),
        ]:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return out.getvalue()


def _without_padding(member: bytes) -> bytes:
    """An .npy member with its record arrays' padding bytes zeroed: numpy writes the padding of a structured
    array (a random forest's tree nodes) as whatever memory held, so equal trees would give unequal files."""
    import numpy as np

    head = member[:256]
    start = head.find(b"'descr': [")  # a record array's header; plain arrays are kept as they are
    end = head.find(b", 'fortran_order'")
    if start < 0 or end < 0 or not _padded(head[start + 9 : end]):
        return member
    array = np.load(io.BytesIO(member), allow_pickle=False)
    clean = np.zeros(array.shape, array.dtype)
    for name in array.dtype.names:
        clean[name] = array[name]
    out = io.BytesIO()
    np.save(out, clean, allow_pickle=False)
    return out.getvalue()


@functools.lru_cache(maxsize=64)
def _padded(descr: bytes) -> bool:
    """Whether a record dtype (its .npy header description) has padding between or after its fields."""
    import ast

    import numpy as np

    dtype = np.lib.format.descr_to_dtype(ast.literal_eval(descr.decode()))
    return dtype.itemsize != sum(dtype.fields[name][0].itemsize for name in dtype.names)


def load_estimator(path: Path, trusted: tuple[str, ...]):
    """An estimator from a model.skops file, refusing any type outside `trusted` (a tampered or foreign file)."""
    import skops.io

    data = path.read_bytes()
    try:
        untrusted = set(skops.io.get_untrusted_types(data=data))
    except Exception as exc:
        raise ModelFileError(f"{path}: not a model file this project wrote ({type(exc).__name__}: {exc})") from None
    foreign = sorted(untrusted - set(trusted))
    if foreign:
        raise ModelFileError(
            f"{path}: refused - it holds types this project's models are not made of "
            f"({', '.join(foreign)}); was the file tampered with? Retrain to replace it"
        )
    return skops.io.loads(data, trusted=sorted(untrusted))
