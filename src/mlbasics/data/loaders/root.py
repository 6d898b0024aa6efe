"""The ROOT loader: TTrees read with uproot (data/root_files.py) - a tree per class (signal and background, as TMVA's
AddSignalTree / AddBackgroundTree) or one tree with a label branch, from a local file or downloaded files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from mlbasics.core.formats import FormatError
from mlbasics.data.arrays import Dataset, fold_values, group_ids
from mlbasics.data.loaders.base import Loader, receipt_file


def root(
    receipt: dict,
    path: str | None = None,
    tree: str | None = None,
    signal: dict | None = None,
    background: dict | None = None,
    label: str | None = None,
    branches: list[str] | None = None,
    selection: str | None = None,
    weight: str | None = None,
    drop_invalid: bool = False,
    group: list[str] | None = None,
    fold_by: str | None = None,
    processes: list[dict] | None = None,
    target: str | None = None,
) -> Dataset:
    """ROOT TTrees (root_files.py): a tree per class, signal and background, each from one or several files
    with a scale; or one tree with a label branch. From a local file (`path`) or the downloaded `files`. `fold_by`
    (split.fold_by) is read beside the group branches, never as an input."""
    from mlbasics.data import root_files

    shown: dict[Path, str] = {}  # how each file is named in the events' origin: as params name it

    def files(names: list[str] | None) -> list[Path]:
        if path:
            shown[Path(path)] = path
            return [Path(path)]
        found = [(name, receipt_file(receipt, name)) for name in (names or [f["name"] for f in receipt["files"]])]
        shown.update((where, name) for name, where in found)
        return [where for _, where in found]

    if label or target:  # one tree: its label branch, or a regression's target
        samples = [root_files.Sample(None, files(None), tree)]
    elif processes:  # physics processes, each normalised: xsec x lumi / sumw
        samples = [root_files.Sample(p["class"], files(p.get("files")), p.get("tree") or tree, 1.0) for p in processes]
        samples = [replace(s, scale=process_scale(p, s)) for p, s in zip(processes, samples, strict=True)]
    else:
        samples = [
            root_files.Sample(name, files(spec.get("files")), spec.get("tree") or tree, float(spec.get("scale", 1.0)))
            for name, spec in (("signal", signal), ("background", background))
        ]
    keys = [*(group or []), *([fold_by] if fold_by else [])]
    events = root_files.read(samples, branches, selection, weight, label, drop_invalid, keys or None, target=target)
    source = Path(path).name if path else ", ".join(f["name"] for f in receipt["files"])
    group_keys = events.group_keys[:-1] if fold_by else events.group_keys  # [tree index, *group, fold_by]
    if processes:  # each row's process (through the tree it was read from), for the yields table
        of_tree = np.array([i for i, sample in enumerate(samples) for _ in sample.files], np.int64)
        process = of_tree[events.origin[:, 0]]
        pairs = zip(processes, samples, strict=True)
        names = [{"name": p["name"], "class": p["class"], "scale": s.scale} for p, s in pairs]
    return Dataset(
        events.x,
        events.y,
        events.class_names,
        source,
        events.w,
        events.feature_names,
        group_ids(group_keys) if group else None,
        events.origin,
        [shown[p] for p in events.files],
        fold_values(events.group_keys[-1], fold_by, source) if fold_by else None,
        process if processes else None,
        names if processes else [],
    )


def process_scale(process: dict, sample) -> float:
    """A process's weight factor: its scale, or xsec x lumi / sumw - sumw a number or TREE:BRANCH summed over its
    files (the generator weights' sum, e.g. Runs:genEventSumw)."""
    if "scale" in process or "xsec" not in process:
        return float(process.get("scale", 1.0))
    sumw = process["sumw"]
    if isinstance(sumw, str):
        import uproot

        tree, branch = sumw.split(":")
        total = 0.0
        for path in sample.files:
            with uproot.open(path) as file:
                if tree not in file or branch not in file[tree]:
                    raise FormatError(f"{path.name}: process {process['name']!r}: sumw {sumw!r} not found")
                total += float(np.sum(file[tree][branch].array(library="np"), dtype=np.float64))
        if not total > 0:
            raise FormatError(f"process {process['name']!r}: sumw {sumw!r} sums to {total:g}; it must be positive")
        sumw = total
    return float(process["xsec"]) * float(process.get("lumi", 1.0)) / float(sumw)


def _processes_problem(options: dict) -> str | None:
    """Processes: instead of signal, background or a label; two classes or more; names unique; xsec with sumw."""
    found = options["processes"]
    other = next((k for k in ("signal", "background", "label") if k in options), None)
    if other:
        return f"{other}: loader 'root' takes processes, or signal and background, or a label branch - not both"
    if len({p["class"] for p in found}) < 2:
        return "processes: they hold one class; a classifier needs two or more"
    names = [p["name"] for p in found]
    files = {f["name"] for f in options.get("files", [])}
    for i, p in enumerate(found):
        if names.count(p["name"]) > 1:
            return f"processes[{i}].name: {p['name']!r} names two processes"
        if "xsec" in p and "sumw" not in p:
            return f"processes[{i}].sumw: needed with xsec (the generator weights' sum, e.g. Runs:genEventSumw)"
        if "scale" in p and "xsec" in p:
            return f"processes[{i}].scale: either scale or xsec x lumi / sumw, not both"
        if not (p.get("tree") or options.get("tree")):
            return f"processes[{i}].tree: loader 'root' needs a tree name (here or in options.tree)"
        for name in p.get("files", []):
            if "path" in options:
                return f"processes[{i}].files: with a local path, the trees come from that one file; leave files out"
            if name not in files:
                return f"processes[{i}].files: {name!r} is not one of the files ({', '.join(sorted(files))})"
    return None


def _root_problem(options: dict) -> str | None:
    """The ROOT loader's layouts: signal and background trees, processes, one tree with a label branch, or one
    tree with a regression's target."""
    if "target" in options:
        other = next((k for k in ("signal", "background", "processes", "label") if k in options), None)
        if other:
            return f"{other}: loader 'root' with a target (a regression) reads one tree: leave {other} out"
        return None if options.get("tree") else "tree: loader 'root' needs the tree holding the target"
    if "processes" in options:
        return _processes_problem(options)
    classes = [k for k in ("signal", "background") if k in options]
    if classes and "label" in options:
        return "label: loader 'root' takes either signal and background trees or one tree with a label branch"
    if not classes and "label" not in options:
        return "signal: loader 'root' needs signal and background (a tree per class) or tree and label"
    if len(classes) == 1:
        missing = ({"signal", "background"} - set(classes)).pop()
        return f"{missing}: loader 'root' needs both signal and background"
    names = {f["name"] for f in options.get("files", [])}
    for key in classes or ["label"]:
        spec = options.get(key) if key != "label" else {}
        if not (spec.get("tree") or options.get("tree")):
            return f"{key if key != 'label' else 'tree'}: loader 'root' needs a tree name (here or in options.tree)"
        for name in spec.get("files", []):
            if "path" in options:
                return f"{key}.files: with a local path, the trees come from that one file; leave files out"
            if name not in names:
                return f"{key}.files: {name!r} is not one of the files ({', '.join(sorted(names))})"
    return None


LOADERS = [
    Loader(
        "root",
        root,
        options=frozenset(
            {
                "path",
                "files",
                "tree",
                "signal",
                "background",
                "processes",
                "label",
                "target",
                "branches",
                "selection",
                "weight",
                "drop_invalid",
                "group",
                "seed",
            }
        ),
        receipt=True,
        local=True,
        inputs="branches",
        check=_root_problem,
    ),
]
