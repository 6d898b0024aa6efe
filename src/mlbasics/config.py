"""params.yaml: load, validate against the JSON Schema (filling its defaults), resolve per-stage settings.

This module is imported by the Snakefile, so it must stay light: no TensorFlow, no MLflow.
Every stage reads params only through `stage_settings`, built from the keys `stage_param_keys` names,
so the params a DVC stage declares are exactly the params it reads.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import sources

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "params.schema.yaml"
STAGES = ("download", "dataset", "preprocess", "train", "evaluate", "report", "summary")


class ParamsError(ValueError):
    """A problem in params.yaml; the message names the offending key and value."""


def load_params(path: str | Path | list, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Read a params YAML file (or several, each deep-merged over the previous one, as Snakemake merges
    `--configfile`) and return it validated, with schema defaults filled in."""
    params: dict = {}
    for one in path if isinstance(path, list) else [path]:
        params = deep_merge(params, _read_yaml(Path(one)))
    return validate_params(params, schema_path)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}".splitlines()[0]) from exc
    if not isinstance(content, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    return content


def deep_merge(base: dict, override: dict) -> dict:
    """Mappings merge key by key; anything else in `override` replaces what `base` has."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_schema(schema_path: str | Path = SCHEMA_PATH) -> dict:
    return yaml.safe_load(Path(schema_path).read_text())


def _with_defaults(cls):
    """A validator class that also fills `default` values into the instance (the jsonschema FAQ recipe)."""
    validate_properties = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(cls, {"properties": set_defaults})


_DefaultingValidator = _with_defaults(jsonschema.Draft202012Validator)


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line: the dotted key, the offending value, what was expected."""
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return f"{_key([*error.absolute_path, missing[0]])}: required key is missing"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"{_key([*error.absolute_path, extra[0]])}: unknown key"
    if error.validator == "propertyNames":
        return f"{_key(error.absolute_path)}: invalid name {error.instance!r} ({error.message})"
    return f"{_key(error.absolute_path)}: {error.message}"  # jsonschema's message starts with the value


def validate_params(params: Any, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Validate a params mapping; return a copy with defaults filled. Raise ParamsError on the first problem."""
    if not isinstance(params, dict):
        raise ParamsError("params: expected a mapping at the top level")
    params = copy.deepcopy(params)
    validator = _DefaultingValidator(load_schema(schema_path))
    errors = sorted(validator.iter_errors(params), key=lambda e: (list(e.absolute_path), e.validator))
    if errors:
        raise ParamsError(_describe(jsonschema.exceptions.best_match(errors)))
    _check_semantics(params)
    return params


def _check_semantics(params: dict) -> None:
    for name, dataset in params["datasets"].items():
        problem = sources.check_options(dataset["loader"], dataset["options"])
        if problem:
            raise ParamsError(f"datasets.{name}.options.{problem}")
    total = sum(params["split"].values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        fractions = ", ".join(f"{k}={v}" for k, v in params["split"].items())
        raise ParamsError(f"split: fractions must sum to 1, got {total:g} ({fractions})")
    for kind in ("datasets", "variants"):
        for i, name in enumerate(params["run"][kind]):
            if name not in params[kind]:
                known = ", ".join(sorted(params[kind])) or "none"
                raise ParamsError(f"run.{kind}[{i}]: unknown {kind[:-1]} {name!r} (defined in {kind}: {known})")


def grid(params: dict) -> list[tuple[str, str]]:
    """The (dataset, variant) pairs that run, in a stable order."""
    return [(d, v) for d in params["run"]["datasets"] for v in params["run"]["variants"]]


def stage_param_keys(stage: str, dataset: str | None = None, variant: str | None = None) -> list[str]:
    """The dotted params keys a stage reads (what dvc.yaml lists under `params:`)."""
    keys = {
        "download": ["download.cache_dir", f"datasets.{dataset}.loader", f"datasets.{dataset}.options"],
        "dataset": [f"datasets.{dataset}.loader", f"datasets.{dataset}.options"],
        "preprocess": ["seed", "split", f"datasets.{dataset}.preprocess"],
        "train": ["seed", f"datasets.{dataset}.model", f"variants.{variant}"],
        "evaluate": ["seed", "tracking", f"datasets.{dataset}.model", f"variants.{variant}"],
        "report": ["run.variants"],
        "summary": ["run"],
    }
    if stage not in keys:
        raise ValueError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    return keys[stage]


def _get(params: dict, dotted: str) -> Any:
    value = params
    for part in dotted.split("."):
        value = value[part]
    return value


def model_spec(params: dict, dataset: str, variant: str) -> dict:
    """The dataset's base model with the variant's overrides applied."""
    return {**params["datasets"][dataset]["model"], **params["variants"][variant]}


FETCH_POLICY_KEYS = ("mirrors", "retries", "timeout")


def fetch_policy(params: dict) -> dict:
    """How the download stage fetches (mirrors, retries, timeout): deliberately not stage settings, since it
    does not change what lands in the cache, so editing it reruns nothing."""
    return {k: params["download"][k] for k in FETCH_POLICY_KEYS}


def stage_settings(params: dict, stage: str, dataset: str | None = None, variant: str | None = None) -> dict:
    """Everything a stage needs from params, read only through the keys `stage_param_keys` declares."""
    keys = stage_param_keys(stage, dataset, variant)
    view: dict = {}
    for dotted in keys:  # a params tree holding only the declared keys
        *parents, leaf = dotted.split(".")
        node = view
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = copy.deepcopy(_get(params, dotted))
    if stage in ("download", "dataset"):
        ds = view["datasets"][dataset]
        resolved = {"dataset": dataset, "loader": ds["loader"], "options": ds["options"],
                    # the pinned files: a changed hash in the catalog reruns the stage
                    "files": [f.to_dict() for f in sources.remote_files(ds["loader"], ds["options"])]}
        return {**resolved, "cache_dir": view["download"]["cache_dir"]} if stage == "download" else resolved
    if stage == "preprocess":
        return {"dataset": dataset, "seed": view["seed"], "split": view["split"],
                **view["datasets"][dataset]["preprocess"]}
    if stage == "train":
        return {"dataset": dataset, "variant": variant, "seed": view["seed"],
                "model": model_spec(view, dataset, variant)}
    if stage == "evaluate":
        return {"dataset": dataset, "variant": variant, "seed": view["seed"], "tracking": view["tracking"],
                "model": model_spec(view, dataset, variant)}
    if stage == "report":
        return {"dataset": dataset, "variants": view["run"]["variants"]}
    return {"datasets": view["run"]["datasets"], "variants": view["run"]["variants"]}
