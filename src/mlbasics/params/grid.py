"""The variant grid: sweeps expanded into variants with stable readable ids, which variants run on which dataset
(a method that cannot take a dataset is left out there: methods.registry), and a run's merged model spec.

Light on purpose (the Snakefile reads it through params.config): no TensorFlow, no MLflow.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
import re
from typing import Any

from mlbasics.core.errors import ParamsError
from mlbasics.data import sources
from mlbasics.methods import registry as method_rules


def deep_merge(base: dict, override: dict) -> dict:
    """Mappings merge key by key; anything else in `override` replaces what `base` has."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# the model's blocks a variant changes key by key (what it leaves out is the dataset's), not as a whole
BLOCKS = ("event_weights", "early_stopping", "lr_schedule", *method_rules.REFERENCE)


def _method_blocks(variants: Any) -> dict[str, dict]:
    """Each variant's blocks (BLOCKS) as written (validation fills a block's defaults)."""
    if not isinstance(variants, dict):
        return {}
    return {
        name: {m: copy.deepcopy(v[m]) for m in BLOCKS if isinstance(v.get(m), dict)}
        for name, v in variants.items()
        if isinstance(v, dict)
    }


def _value_id(value: Any) -> str:
    """A value as it reads in a variant id: 0.001 -> 0p001, [64, 32] -> 64x32, True -> true."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "x".join(_value_id(v) for v in value)
    if isinstance(value, dict):
        return "-".join(_value_id(v) for v in value.values())
    text = format(value, "g") if isinstance(value, float) else str(value)
    return re.sub(r"[^a-z0-9_-]", "", text.lower().replace(".", "p").replace("-", "m"))


def expand_variants(variants: dict) -> dict[str, tuple[str, dict]]:
    """Variant id -> (the name it is defined under, its model overrides). A variant with `sweep` becomes one
    variant per value, or per combination of several keys' values, with stable readable ids. Read-only: the
    result is shared between calls (every job of a 1,000-variant grid asks; expanding each time made
    `snakemake -n` quadratic)."""
    return _expand_cached(json.dumps(variants))  # key order kept: it orders the ids


@functools.lru_cache(maxsize=32)
def _expand_cached(variants_json: str) -> dict[str, tuple[str, dict]]:
    variants = json.loads(variants_json)
    expanded: dict[str, tuple[str, dict]] = {}

    def add(vid: str, source: str, override: dict) -> None:
        if vid in expanded:  # two runs under one id: one would silently replace the other
            order = list(variants)  # name the sweep first; of two sweeps, the one defined first
            a, b = sorted({expanded[vid][0], source}, key=lambda n: ("sweep" not in variants[n], order.index(n)))
            other = (
                f"the sweep of variant {b!r} makes too"
                if "sweep" in variants[b]
                else "is also the name of a variant defined under variants"
            )
            raise ParamsError(f"variants.{a}: its sweep makes the id {vid!r}, which {other}; rename one of them")
        expanded[vid] = (source, override)

    for name, override in variants.items():
        if "sweep" not in override:
            add(name, name, override)
            continue
        fixed = {k: v for k, v in override.items() if k != "sweep"}
        keys = list(override["sweep"])
        for combo in itertools.product(*(override["sweep"][k] for k in keys)):
            if len(keys) == 1:
                vid = f"{name}-{_value_id(combo[0])}"
            else:
                vid = "-".join(
                    [name, *(f"{k.replace('.', '_')}_{_value_id(v)}" for k, v in zip(keys, combo, strict=True))]
                )
            add(vid, name, _with_values(fixed, dict(zip(keys, combo, strict=True))))
    return expanded


def _with_values(override: dict, values: dict) -> dict:
    """`override` with swept values set: `key` or, in a method's block, `block.key`."""
    out = copy.deepcopy(override)
    for key, value in values.items():
        block, _, inner = key.partition(".")
        if inner:
            out[block] = {**out.get(block, {}), inner: value}
        else:
            out[key] = value
    return out


def run_variants(params: dict) -> list[str]:
    """The variant ids that run: run.variants, each sweep name replaced by the ids it expands to."""
    expanded = expand_variants(params["variants"])
    ids: list[str] = []
    for name in params["run"]["variants"]:
        members = [vid for vid, (source, _) in expanded.items() if source == name and name in params["variants"]]
        ids.extend(members if members else [name])
    return list(dict.fromkeys(ids))


def grid(params: dict) -> list[tuple[str, str]]:
    """The (dataset, variant id) pairs that run, datasets outermost, in a stable order: every dataset x every
    variant, less a variant whose method does not take the dataset (method_rules.TAKES)."""
    return [(d, v) for d in params["run"]["datasets"] for v in dataset_variants(params, d)]


def dataset_variants(params: dict, dataset: str) -> list[str]:
    """The variant ids of the run that apply to one dataset."""
    return [v for v in run_variants(params) if _left_out(params, dataset, v) is None]


def left_out(params: dict) -> list[tuple[str, str, str]]:
    """(dataset, variant, why) of every pair the rule leaves out: "images" or "regression"."""
    return [
        (d, v, why) for d in params["run"]["datasets"] for v in run_variants(params) if (why := _left_out(params, d, v))
    ]


def _left_out(params: dict, dataset: str, variant: str) -> str | None:
    ds = params["datasets"][dataset]
    # read from raw params too (no defaults filled): the method's default is the MLP
    method = {**ds.get("model", {}), **expand_variants(params["variants"])[variant][1]}.get("method", method_rules.MLP)
    return method_rules.not_taken(method, sources.is_images(ds), sources.is_regression(ds))


def warm_start_parent(params: dict, dataset: str, variant: str) -> str | None:
    """The variant whose trained model this one starts from, if any."""
    return model_spec(params, dataset, variant).get("warm_start")


def variant_source(params: dict, variant: str) -> str:
    """The name under `variants:` that defines a variant id (itself, or the sweep it comes from)."""
    return expand_variants(params["variants"])[variant][0]


def model_spec(params: dict, dataset: str, variant: str) -> dict:
    """The dataset's base model with the variant's overrides applied (its blocks - event_weights, a reference
    method's settings, ... - key by key; a schedule of another kind whole), reduced to the keys its method reads
    (method_rules.own_keys)."""
    base, override = params["datasets"][dataset]["model"], expand_variants(params["variants"])[variant][1]
    spec = {**base, **override}
    for block in BLOCKS:
        mine, theirs = override.get(block), base.get(block)
        other_kind = (
            block == "lr_schedule" and isinstance(theirs, dict) and mine and mine.get("kind") != theirs.get("kind")
        )
        if isinstance(mine, dict) and isinstance(theirs, dict) and not other_kind:
            spec[block] = {**theirs, **mine}
    return method_rules.own_keys(spec, spec["method"])


def split_of(params: dict, dataset: str) -> dict:
    """A dataset's split: the global `split:` with the dataset's own `split:` merged over it key by key."""
    return {**params["split"], **params.get("datasets", {}).get(dataset, {}).get("split", {})}


def split_key(params: dict, dataset: str) -> str:
    """The params key of a dataset's own split where it has one, else the global split's (what its stages list
    beside `split`)."""
    return f"datasets.{dataset}.split" if "split" in params["datasets"].get(dataset, {}) else "split"


def folds(params: dict, dataset: str) -> int:
    """How many folds a dataset trains (split.folds); 1: one train/validation/test split."""
    return int(split_of(params, dataset).get("folds", 1))


def check_split(params: dict, running: list[str]) -> None:
    """Each split's fractions sum to 1 (the global one, and each running dataset's with its own merged over it);
    fold_by needs folds and a loader that reads branches or columns (it is read beside the inputs); one number of
    folds for every dataset that trains in folds; a k-fold training starts every fold cold (no warm start)."""
    names = [None, *(d for d in params["run"]["datasets"] if d in params["datasets"])]
    for name in names:
        split = params["split"] if name is None else split_of(params, name)
        where = "split" if name is None or split_key(params, name) == "split" else f"datasets.{name}.split"
        shares = {k: split[k] for k in ("train", "validation", "test")}
        if not math.isclose(sum(shares.values()), 1.0, abs_tol=1e-9):
            listed = ", ".join(f"{k}={v}" for k, v in shares.items())
            raise ParamsError(f"{where}: fractions must sum to 1, got {sum(shares.values()):g} ({listed})")
        if "fold_by" in split and "folds" not in split:
            raise ParamsError(f"{where}.fold_by: needs folds (the number of folds)")
        loader = None if name is None else params["datasets"][name]["loader"]
        if loader and split.get("fold_by") and split.get("folds", 1) > 1 and not sources.reads_fold_by(loader):
            raise ParamsError(
                f"{where}.fold_by: dataset {name!r} (loader {loader!r}) has no branches or columns to read "
                f"{split['fold_by']!r} from; fold_by works with the root, hep_toy and table loaders"
            )
    counts = {d: folds(params, d) for d in names[1:] if folds(params, d) > 1}
    if len(set(counts.values())) > 1:  # dvc.yaml's foreach stage lists each fold's files: one number for all
        (a, k), (b, m) = sorted(counts.items(), key=lambda item: item[1])[:: len(counts) - 1]
        raise ParamsError(f"datasets.{b}.split.folds: {m} folds, but dataset {a!r} trains {k}; use one number")
    expanded = expand_variants(params["variants"])
    warm = [v for v in running if expanded[v][1].get("warm_start")] if counts else []
    if warm:  # each fold's model would need its parent's model of the same fold
        raise ParamsError(f"variants.{warm[0]}.warm_start: not with split.folds (every fold's training starts cold)")
