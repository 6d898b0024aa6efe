"""Reading params files strictly, and pointing at the line a mistake is on: a key given twice, a YAML syntax
error or a tag is refused with file, line and column (PyYAML and Snakemake keep the last of two equal keys, DVC
refuses them); `locate` adds the file and line of the key an error is about."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import yaml

from mlbasics.core.errors import ParamsError


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a key given twice in one mapping, as DVC's YAML reader does (PyYAML
    and Snakemake silently keep the last one)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} appears twice in one mapping (first on line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def yaml_error(path: Path, exc: yaml.YAMLError) -> ParamsError:
    """A YAML error as one line: file:line:column and what is wrong."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if "constructor for the tag" in problem:
        problem += " (params are plain data: tags such as !!python/... are not allowed)"
    context = getattr(exc, "context", None)
    return ParamsError(f"{where}: not valid YAML: {problem}" + (f" ({context})" if context else ""))


def read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        content = yaml.load(path.read_text(), Loader=_StrictLoader)  # a SafeLoader: plain data only
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None
    if not isinstance(content, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    return content


# blocks a --configfile may clear by setting them to null (an empty mapping merges nothing into them)
CLEARABLE = ("gates", "expected_yields", "apply")


def check_yaml_files(paths: list[str | Path]) -> None:
    """Read each params file strictly (syntax, duplicate keys, no tags); raise ParamsError with file and line.
    For Snakemake, whose own reader names neither and keeps the last of two equal keys."""
    for path in paths:
        read_yaml(Path(path))


def check_configfiles(paths: list[str | Path]) -> None:
    """check_yaml_files for files merged over params.yaml (--configfile), refusing a top-level block that is an
    empty mapping: it merges nothing, so it cannot clear what it seems to (`gates: {}` left every gate)."""
    for path in paths:
        check_override(Path(path), read_yaml(Path(path)))


def check_override(path: Path, content: dict) -> None:
    """An empty top-level mapping in a file merged over another is refused, naming the way to clear a block."""
    for key, value in content.items():
        if value == {}:
            remedy = f"to clear them write `{key}: null`" if key in CLEARABLE else "leave it out"
            line = key_lines(path).get((key,))
            raise ParamsError(
                f"{path}{f':{line}' if line else ''}: {key}: {{}} merges nothing into the params it is merged over "
                f"(mappings merge key by key); {remedy}"
            )


def key_lines(path: str | Path) -> dict[tuple, int]:
    """Line of every key and list item in a YAML file, by its path: ('variants', 'act') -> 57."""
    lines: dict[tuple, int] = {}

    def walk(node, prefix: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*prefix, key.value)] = key.start_mark.line + 1
                walk(value, (*prefix, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*prefix, str(i))] = item.start_mark.line + 1
                walk(item, (*prefix, str(i)))

    with contextlib.suppress(OSError, yaml.YAMLError):  # reported by _read_yaml; here only positions
        walk(yaml.compose(Path(path).read_text(), Loader=_StrictLoader), ())
    return lines


def locate(error: ParamsError, paths: list[str | Path]) -> ParamsError:
    """The error with the file and line of the key it names (its message starts with the dotted key): the
    last file that sets the key, or its nearest parent, wins - as in the merge."""
    message = str(error)
    head = message.split(": ", 1)[0]
    if not re.fullmatch(r"[\w.\-\[\]]+", head):
        return error
    key = tuple(part for part in re.split(r"[.\[\]]+", head) if part)
    lines = {path: key_lines(path) for path in paths}  # each file parsed once
    for depth in range(len(key), 0, -1):
        for path in reversed(paths):
            line = lines[path].get(key[:depth])
            if line is not None:
                return ParamsError(f"{path}:{line}: {message}")
    return error
