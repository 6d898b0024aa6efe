"""ROOT TTrees as a dataset, through uproot (pure Python, no ROOT installation).

Two layouts, as TMVA takes them: one tree (or tree set) per class - `signal` and `background`, each from one or
several files, each with an optional scale (cross section x luminosity / generated events) - or one tree with a
label branch. What is read:

- inputs: `branches` (default: every flat numeric branch but the label and the weight). A jagged branch (a
  variable number of values per event, e.g. one per jet) needs an element, `Jet_Px[0]`, or a reduction,
  `max(Jet_Px)` (also min, sum, mean, len); alone it is refused, naming it;
- `selection`: a cut applied to every tree before anything else, in uproot's expression language (Python
  syntax on branch names: `(NJet >= 1) & (MET_px > 0)`);
- `weight`: a branch or an expression, the per-event weight (negative weights are kept: what training does
  with them is a model setting), times the sample's `scale`;
- `group`: branches (or expressions) naming the event an entry belongs to, e.g. [runNumber, eventNumber], where
  a tree holds several entries per event (candidates): the split then keeps an event's entries together. Entries
  of different files or samples are different events whatever their numbers.

Over 350 lines: training's reading and apply's (a trained model's inputs of every entry, in chunks) share every
helper - the one code path from branches to a model's inputs - so they stay in one file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlbasics.core.formats import IDENTIFIER, FormatError

REDUCTIONS = {"max": np.max, "min": np.min, "sum": np.sum, "mean": np.mean, "len": len}
_ELEMENT = re.compile(r"^\s*(?P<branch>[A-Za-z_][\w.]*)\s*\[\s*(?P<index>-?\d+)\s*\]\s*$")
_REDUCED = re.compile(rf"^\s*(?P<func>{'|'.join(REDUCTIONS)})\s*\(\s*(?P<branch>[A-Za-z_][\w.]*)\s*\)\s*$")


@dataclass(frozen=True)
class Sample:
    """One class's events: trees of the same name in one or several files, scaled by `scale`."""

    name: str | None  # the class; None for one tree with a label branch
    files: list[Path]
    tree: str
    scale: float = 1.0


@dataclass(frozen=True)
class Events:
    x: np.ndarray  # float32, events x inputs
    y: np.ndarray  # int64 class indices
    w: np.ndarray | None  # float64 event weights (None: unweighted)
    class_names: list[str]
    feature_names: list[str]
    # which event each entry is (options.group): the tree's index (in the order read), then each group branch
    group_keys: list[np.ndarray] = field(default_factory=list)
    # where each event was read: (index into files, entry number in its tree), int64
    origin: np.ndarray | None = None
    files: list[Path] = field(default_factory=list)  # each tree's file, in the order read


STEP = 500_000  # entries read at once: a stage's memory is set by the chunk, not by the tree


def read(
    samples: list[Sample],
    branches: list[str] | None = None,
    selection: str | None = None,
    weight: str | None = None,
    label: str | None = None,
    drop_invalid: bool = False,
    group: list[str] | None = None,
    step: int = STEP,
    target: str | None = None,
) -> Events:
    """Read every sample's inputs, weights and classes (from the sample's name, or from the `label` branch) - or
    with `target` (a branch or expression) a regression's float targets and no classes - and with `group` which
    event each entry belongs to; each tree in one pass, `step` entries at a time."""
    trees = [(sample, path, _open_tree(path, sample.tree)) for sample in samples for path in sample.files]
    first = trees[0][2]
    inputs = branches or _flat_numeric(first, {label, target, weight, *(group or [])})
    label = label or target  # read the same way: one value per entry
    if not branches:  # the job log says what the model will see
        print(f"{trees[0][1].name}: inputs (every flat numeric branch but identifiers): {', '.join(inputs)}")
    weighted = bool(weight) or any(s.scale != 1.0 for s in samples)
    parts, keys, origin = [], [], []
    for index, (sample, path, tree) in enumerate(trees):
        found = _read_tree(
            tree, f"{path.name}:{sample.tree}", inputs, selection, weight, label, group, drop_invalid, step
        )
        n = len(found["x"])
        origin.append(np.column_stack([np.full(n, index), found["entries"]]))
        w = (found["weight"] if weight else np.ones(n)) * sample.scale
        parts.append((sample, found["x"], w, found.get("label")))
        if group:  # this tree's index first: the same numbers in another file or sample are another event
            keys.append([np.full(n, index), *found["group"]])
    group_keys = [np.concatenate(column) for column in zip(*keys, strict=True)]
    x = np.concatenate([p[1] for p in parts])
    w = np.concatenate([p[2] for p in parts]).astype(np.float64) if weighted else None
    if target:
        y, names = np.concatenate([p[3] for p in parts]).astype(np.float32), []
    elif label:
        values = np.concatenate([p[3] for p in parts])
        classes, y = np.unique(values, return_inverse=True)
        names = [format(c, "g") if np.issubdtype(classes.dtype, np.number) else str(c) for c in classes]
    else:
        names = sorted({s.name for s in samples})  # sorted like a table's labels: background, signal
        y = np.concatenate([np.full(len(p[1]), names.index(p[0].name)) for p in parts])
    files = [path for _, path, _ in trees]
    return Events(
        x,
        y if target else y.astype(np.int64),
        w,
        names,
        list(inputs),
        group_keys,
        np.concatenate(origin).astype(np.int64),
        files,
    )


def _read_tree(
    tree,
    where: str,
    inputs: list[str],
    selection: str | None,
    weight: str | None,
    label: str | None,
    group: list[str] | None,
    drop_invalid: bool,
    step: int,
) -> dict:
    """One tree's selected events, a chunk of entries at a time: x (float32 inputs), entries (their entry
    numbers), and where asked weight, label and group (each group branch's values); events without a valid value
    of every input refused (naming the input) or, with drop_invalid, dropped."""
    _, names = _parse(inputs)
    wanted = {"selection": selection, "weight": weight, "label": label}
    wanted = {k: v for k, v in wanted.items() if v}
    expressions = list(dict.fromkeys([*names, *wanted.values(), *(group or [])]))
    parts: dict[str, list] = {"x": [], "entries": [], "weight": [], "label": [], "group": []}
    invalid = np.zeros(len(inputs), np.int64)  # events without a valid value, per input
    first_bad, selected, nonfinite = None, 0, 0
    for start, read in _chunks(tree, expressions, selection, where, step):
        n = len(read[expressions[0]])
        passes = _passes(read[selection], n, selection, where) if selection else np.ones(n, bool)
        everything = bool(passes.all())  # the usual chunk: no copy of every branch to drop nothing
        x = input_columns(read if everything else {k: v[passes] for k, v in read.items()}, inputs, where)
        bad = invalid_values(x)
        rows = bad.any(axis=1)
        if rows.any() and first_bad is None:
            first_bad = int(np.argmax(bad[np.argmax(rows)]))
        invalid += bad.sum(axis=0)
        selected += len(x)
        keep = ~rows
        parts["x"].append((x if not rows.any() else x[keep]).astype(np.float32))
        parts["entries"].append(start + np.flatnonzero(passes)[keep])
        if weight:
            w = np.asarray(read[weight][passes], np.float64)
            if w.ndim != 1:
                raise FormatError(f"{where}: weight {weight!r} is not one number per event")
            nonfinite += int((~np.isfinite(w)).sum())
            parts["weight"].append(w[keep])
        if label:
            parts["label"].append(read[label][passes][keep])
        if group:
            parts["group"].append([_group_values(read[g], g, where)[passes][keep] for g in group])
    if nonfinite:
        raise FormatError(f"{where}: weight {weight!r} is not finite for {nonfinite} event(s)")
    dropped = int(selected - sum(len(x) for x in parts["x"]))
    if dropped and not drop_invalid:
        raise FormatError(
            f"{where}: {inputs[first_bad]!r} has no valid value in {int(invalid[first_bad])} selected "
            "event(s) (an empty list, an element beyond its end, nan, inf or beyond float32); "
            f"select events that have it{_selection_hint(tree, inputs[first_bad])}, or set "
            "options.drop_invalid: true to drop them"
        )
    if dropped:
        print(
            f"{where}: dropped {dropped} of {selected} selected events without a valid value of every "
            "input (options.drop_invalid)"
        )
    found = {
        "x": np.concatenate(parts["x"]) if parts["x"] else np.empty((0, len(inputs)), np.float32),
        "entries": np.concatenate(parts["entries"]) if parts["entries"] else np.empty(0, np.int64),
    }
    if weight:
        found["weight"] = np.concatenate(parts["weight"]) if parts["weight"] else np.empty(0)
    if label:
        found["label"] = np.concatenate(parts["label"]) if parts["label"] else np.empty(0)
    if group:
        found["group"] = [np.concatenate(c) for c in zip(*parts["group"], strict=True)] or [np.empty(0)] * len(group)
    return found


def _passes(values: np.ndarray, n: int, selection: str, where: str) -> np.ndarray:
    passes = np.asarray(values)
    if passes.dtype == object or passes.shape != (n,):
        raise FormatError(f"{where}: selection {selection!r} is not one true/false per entry")
    return passes.astype(bool)


def _group_values(values: np.ndarray, name: str, where: str) -> np.ndarray:
    """A group branch's values (their own types: 64-bit event numbers stay exact), refusing a jagged one."""
    if values.dtype == object or values.ndim != 1:
        raise FormatError(
            f"{where}: group branch {name!r} is not one number per entry (options.group names "
            "the event an entry belongs to, e.g. [runNumber, eventNumber])"
        )
    return np.asarray(values)


def _chunks(
    tree, expressions: list[str], selection: str | None, where: str, step: int
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """(first entry, the expressions' values) for every `step` entries of a tree; a misspelt branch or an
    expression or selection that cannot be evaluated is named (from the first entry) before the first chunk."""
    _branches(tree, [e for e in expressions if e != selection], selection, where, entry_stop=1)
    start = 0
    try:
        for read in tree.iterate(expressions, step_size=step, library="np"):
            yield start, read
            start += len(read[expressions[0]])
    except FormatError:
        raise
    except Exception as exc:  # the bytes are not there: a file that breaks off mid-way, or is damaged
        raise FormatError(f"{where}: the file is truncated or damaged ({' '.join(str(exc).split())[:200]})") from None


def _open_tree(path: Path, name: str):
    import uproot

    try:
        file = uproot.open(path)
    except Exception as exc:  # uproot raises many kinds for a file that is not ROOT
        raise FormatError(f"{path.name}: not a readable ROOT file ({' '.join(str(exc).split())[:200]})") from None
    kinds = {k.split(";")[0]: v for k, v in file.classnames().items()}
    if name not in file:
        trees = [k for k, v in kinds.items() if v.startswith("TTree")]
        rntuples = [k for k, v in kinds.items() if v.endswith("RNTuple")]
        raise FormatError(
            f"{path.name}: no tree {name!r} (trees in the file: {', '.join(trees) or 'none'}"
            + (f"; RNTuples: {', '.join(rntuples)})" if rntuples else ")")
        )
    if not kinds.get(name, "").startswith(("TTree", "TNtuple")) and not kinds.get(name, "").endswith("RNTuple"):
        raise FormatError(f"{path.name}: {name!r} is a {kinds.get(name) or 'folder'}, not a tree")
    if kinds.get(name, "").endswith("RNTuple"):
        # uproot reads an RNTuple's fields but applies no selection and computes no expression on it (it returns
        # every entry, and nothing for `jet_pt[0]`): refused rather than read wrong
        raise FormatError(
            f"{path.name}: {name!r} is an RNTuple (ROOT's newer columnar format; uproot writes one for "
            f"file[{name!r}] = {{...}}), which the root loader does not read: selections and expressions would not "
            "apply. Write it as a TTree (uproot: file.mktree(name, types) and extend; ROOT: a TTree) and read that"
        )
    try:
        return file[name]
    except Exception as exc:  # its header lies beyond the end of a truncated file
        raise FormatError(
            f"{path.name}: tree {name!r} cannot be read: the file is truncated or damaged "
            f"({' '.join(str(exc).split())[:200]})"
        ) from None


def _flat_numeric(tree, exclude: set) -> list[str]:
    """Every branch with one number per event (integers and floats; not booleans or strings)."""
    import uproot

    names = []
    for name, branch in tree.items():
        interpretation = branch.interpretation
        if (
            name not in exclude
            and not IDENTIFIER.match(name)  # event, run, luminosity-block numbers
            and isinstance(interpretation, uproot.AsDtype)
            and interpretation.to_dtype.shape == ()
            and interpretation.to_dtype.kind in "iuf"
        ):
            names.append(name)
    if not names:
        raise FormatError(f"{tree.name}: no flat numeric branch; list the inputs in options.branches")
    return names


def _branches(
    tree, expressions: list[str], selection: str | None, where: str, entry_stop: int | None = None
) -> dict[str, np.ndarray]:
    """Several at once (one pass over the file); on failure, the first that fails is named."""
    try:
        return tree.arrays(expressions, cut=selection, library="np", entry_stop=entry_stop)
    except OSError as exc:  # the bytes are not there: a truncated or damaged file, not a wrong expression
        raise FormatError(f"{where}: the file is truncated or damaged ({' '.join(str(exc).split())[:200]})") from None
    except Exception as exc:  # a misspelt branch, a bad expression or selection: say which
        message = " ".join(str(exc).split())[:300]
        culprit = [e for e in expressions if len(expressions) == 1 or _fails(tree, e)][:1] or expressions
        raise FormatError(
            f"{where}: cannot evaluate {', '.join(map(repr, culprit))}"
            + (f" with selection {selection!r}" if selection else "")
            + f" ({message})"
        ) from None


def _selection_hint(tree, expression: str) -> str:
    """A selection that keeps the events an input needs: jet_pt[2] needs three entries in its list, max(jet_pt)
    one - said with the list's counter branch where the tree has one (njet >= 3)."""
    _, element, reduced = _parse([expression])[0][0]
    if not (element or reduced):
        return ""
    branch = (element or reduced).group("branch")
    needed = int(element.group("index")) + 1 if element else 1
    counter = getattr(tree[branch], "count_branch", None) if branch in tree else None
    if element and needed <= 0:  # a negative index counts from the end: as many entries as its size
        needed = -int(element.group("index"))
    if counter is None:  # uproot's expressions have no len(): name what to keep
        return f" (at least {needed} entries in {branch})"
    return f", e.g. selection: '{counter.name} >= {needed}'"


def _fails(tree, expression: str) -> bool:
    try:
        tree.arrays([expression], entry_stop=1, library="np")
        return False
    except Exception:
        return True


def _parse(inputs: list[str]) -> tuple[list[tuple], list[str]]:
    """Each input expression with its element or reduction match, and the branch each reads."""
    parsed = [(e, _ELEMENT.match(e), _REDUCED.match(e)) for e in inputs]
    names = [(element or reduced).group("branch") if (element or reduced) else e for e, element, reduced in parsed]
    return parsed, names


def input_columns(read: dict[str, np.ndarray], inputs: list[str], where: str) -> np.ndarray:
    """The inputs (events x inputs, float64) from the branches read: a flat branch as it is, a jagged one's
    element (nan where the list is too short) or reduction (nan for an empty list, but len). The one code path
    from branches to a model's inputs, for training and for applying a trained model to new trees."""
    parsed, names = _parse(inputs)
    out = np.empty((len(read[names[0]]) if names else 0, len(inputs)))  # filled column by column: no stacking copy
    for j, ((expression, element, reduced), name) in enumerate(zip(parsed, names, strict=True)):
        values = read[name]
        jagged = values.dtype == object
        if jagged and not (element or reduced):
            raise FormatError(
                f"{where}: branch {name!r} is jagged (a list per event); pick an element, "
                f"{name}[0], or a reduction, max({name}) (also min, sum, mean, len)"
            )
        if not jagged and (element or reduced):
            raise FormatError(f"{where}: {expression!r}: branch {name!r} has one value per event; use {name}")
        if element:
            out[:, j] = _element(values, int(element.group("index")))
        elif reduced:
            func = REDUCTIONS[reduced.group("func")]
            out[:, j] = np.array([func(v) if len(v) or func is len else np.nan for v in values], np.float64)
        else:
            out[:, j] = values  # cast to float64 as it is copied in
    return out


def invalid_values(x: np.ndarray) -> np.ndarray:
    """Where an input has no usable value: no value (an empty list, an element beyond its end), nan, inf, or
    beyond float32."""
    return ~(np.abs(x) <= np.finfo(np.float32).max)  # nan compares false


def only_tree(path: Path) -> str:
    """The name of a file's one TTree; a FormatError listing them where there are several or none."""
    import uproot

    try:
        with uproot.open(path) as file:
            kinds = {k.split(";")[0]: v for k, v in file.classnames().items()}
    except Exception as exc:
        raise FormatError(f"{path.name}: not a readable ROOT file ({' '.join(str(exc).split())[:200]})") from None
    trees = sorted(k for k, v in kinds.items() if v.startswith("TTree"))
    if len(trees) == 1:
        return trees[0]
    rntuples = sorted(k for k, v in kinds.items() if v.endswith("RNTuple"))
    if not trees and rntuples:
        return rntuples[0]  # refused by name where it is opened (_open_tree)
    raise FormatError(f"{path.name}: name the tree (FILE:TREE); trees in the file: {', '.join(trees) or 'none'}")


def check_tree(path: Path, tree: str, inputs: list[str], selection: str | None) -> tuple[object, list[str], str]:
    """Open a tree and read the inputs and the selection of its first entry, so that a missing tree or branch, a
    branch of another shape or a selection that cannot be evaluated is named before any work: (the tree, the
    expressions to read, the file:tree label)."""
    opened = _open_tree(path, tree)
    where = f"{path.name}:{tree}"
    _, names = _parse(inputs)
    expressions = list(dict.fromkeys([*names, *([selection] if selection else [])]))
    input_columns(_branches(opened, expressions, None, where, entry_stop=1), inputs, where)
    return opened, expressions, where


def input_chunks(
    path: Path, tree: str, inputs: list[str], selection: str | None, step: int = 100_000
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A trained model's inputs for every entry of a tree, in chunks of `step` entries, in entry order (so what is
    written from them lines up with the tree): (inputs, float64 entries x inputs; whether the entry passes the
    selection and has a valid value of every input). A missing branch, a branch of another shape or a selection
    that cannot be evaluated is named before any chunk is returned."""
    opened, expressions, where = check_tree(path, tree, inputs, selection)
    for _, read in _chunks(opened, expressions, None, where, step):
        x = input_columns(read, inputs, where)
        passes = ~invalid_values(x).any(axis=1)
        if selection:
            passes &= np.asarray(read[selection], bool)
        yield x, passes


def _element(values: np.ndarray, index: int) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if -len(v) <= index < len(v):
            out[i] = v[index]
    return out


def write_tree(path: Path, tree: str, branches: dict[str, np.ndarray | list]) -> None:
    """Write one tree (appending to the file if it exists): numpy arrays as flat branches, lists of arrays as
    jagged ones with an `n<name>` counter branch, as ROOT ntuples keep per-object quantities."""
    import awkward as ak
    import uproot

    jagged = {k for k, v in branches.items() if isinstance(v, list)}
    types = {k: "var * float32" if k in jagged else np.asarray(v).dtype for k, v in branches.items()}
    with (uproot.update if path.exists() else uproot.recreate)(path) as file:
        file.mktree(tree, types, counter_name=lambda name: f"n{name}")
        file[tree].extend(
            {
                k: ak.Array([np.asarray(e, np.float32) for e in v]) if k in jagged else np.asarray(v)
                for k, v in branches.items()
            }
        )
