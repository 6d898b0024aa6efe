"""params.yaml: load, validate against the JSON Schema (filling its defaults), resolve per-stage settings.

This module is imported by the Snakefile, so it must stay light: no TensorFlow, no MLflow.
Every stage reads params only through `stages.stage_settings`, built from the keys its declaration names, so
the params a DVC stage declares are exactly the params it reads.

Over 300 lines because it holds two things: validation with the cross-key checks the schema cannot express,
and the variant grid (sweeps); each stage's settings are declared in stages.py.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import method_rules, sources
from .errors import ParamsError
from .params_file import locate, read_yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "params.schema.yaml"


def load_params(path: str | Path | list, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Read a params YAML file (or several, each deep-merged over the previous one, as Snakemake merges
    `--configfile`) and return it validated, with schema defaults filled in. Errors name the file and line of
    the key they are about."""
    paths = [Path(one) for one in (path if isinstance(path, list) else [path])]
    params: dict = {}
    for one in paths:
        params = deep_merge(params, read_yaml(one))
    try:
        return validate_params(params, schema_path)
    except ParamsError as exc:
        raise locate(exc, paths) from None


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


def id_pattern(schema_path: str | Path = SCHEMA_PATH) -> str:
    """The regex of dataset and variant ids (the schema's $defs/id), unanchored: for Snakemake's wildcards."""
    return load_schema(schema_path)["$defs"]["id"]["pattern"].removeprefix("^").removesuffix("$")


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
    written = _method_blocks(params.get("variants"))
    validator = _DefaultingValidator(load_schema(schema_path))
    errors = sorted(validator.iter_errors(params), key=lambda e: (list(e.absolute_path), e.validator))
    if errors:
        raise ParamsError(_describe(jsonschema.exceptions.best_match(errors)))
    for name, blocks in written.items():  # a variant's block overrides key by key: its defaults come from the base
        params["variants"][name].update(blocks)
    _check_semantics(params, validator)
    return params


def _method_blocks(variants: Any) -> dict[str, dict]:
    """Each variant's reference-method blocks as written (validation fills a block's defaults)."""
    if not isinstance(variants, dict):
        return {}
    return {name: {m: copy.deepcopy(v[m]) for m in method_rules.REFERENCE if isinstance(v.get(m), dict)}
            for name, v in variants.items() if isinstance(v, dict)}


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
            other = (f"the sweep of variant {b!r} makes too" if "sweep" in variants[b]
                     else "is also the name of a variant defined under variants")
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
                vid = "-".join([name, *(f"{k.replace('.', '_')}_{_value_id(v)}"
                                        for k, v in zip(keys, combo, strict=True))])
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


def _check_sweeps(params: dict, validator) -> None:
    schema = validator.schema["$defs"]["model_override"]
    model = validator.schema["$defs"]["model"]["properties"]
    for name, override in params["variants"].items():
        for key, values in override.get("sweep", {}).items():
            block, _, inner = key.partition(".")
            # a key of the model, or `<method>.<key>` in a reference method's block
            known = model[block]["properties"] if inner and block in method_rules.REFERENCE else {}
            if (key not in schema["properties"] and inner not in known) or key == "sweep":
                raise ParamsError(f"variants.{name}.sweep.{key}: unknown model key")
            if key in override or inner in override.get(block, {}):
                raise ParamsError(f"variants.{name}.sweep.{key}: also set outside the sweep")
            for i, value in enumerate(values):
                sub = validator.evolve(schema={"type": "object", "properties": known} if inner else schema)
                error = jsonschema.exceptions.best_match(sub.iter_errors({inner or key: value}))
                if error is not None:
                    raise ParamsError(f"variants.{name}.sweep.{key}[{i}]: {error.message}")
    ids = expand_variants(params["variants"])
    for vid in ids:
        if not re.fullmatch(validator.schema["$defs"]["id"]["pattern"], vid):  # the schema's id pattern
            raise ParamsError(f"variants: the sweep id {vid!r} is not a valid id; rename the variant")
    clash = set(ids) & {k for k, v in params["variants"].items() if "sweep" in v}
    if clash:
        raise ParamsError(f"variants: {sorted(clash)[0]!r} is both a sweep and one of its members")


def _check_semantics(params: dict, validator=None) -> None:
    for name, dataset in params["datasets"].items():
        problem = sources.check_options(dataset["loader"], dataset["options"])
        if problem:
            raise ParamsError(f"datasets.{name}.options.{problem}")
    total = sum(params["split"].values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        fractions = ", ".join(f"{k}={v}" for k, v in params["split"].items())
        raise ParamsError(f"split: fractions must sum to 1, got {total:g} ({fractions})")
    if validator is not None:
        _check_sweeps(params, validator)
    expanded = expand_variants(params["variants"])
    running = run_variants(params) if all(v in {**params["variants"], **expanded} for v in params["run"]["variants"]) \
        else []
    for vid in running:
        parent = expanded[vid][1].get("warm_start")
        if parent and parent in expanded and parent not in running:
            raise ParamsError(f"run.variants: {vid!r} warm-starts from {parent!r}, which must run too")
    for kind, known in (("datasets", params["datasets"]), ("variants", {**params["variants"], **expanded})):
        for i, name in enumerate(params["run"][kind]):
            if name not in known:
                names = ", ".join(sorted(params[kind])) or "none"
                raise ParamsError(f"run.{kind}[{i}]: unknown {kind[:-1]} {name!r} (defined in {kind}: {names})")
    _check_gates(params)
    for name in params["expected_yields"]:
        if name not in params["datasets"]:
            raise ParamsError(f"expected_yields.{name}: unknown dataset {name!r} (defined in datasets: "
                              f"{', '.join(sorted(params['datasets']))})")
    for vid, (_, override) in expanded.items():
        for dname, dataset in params["datasets"].items():
            method = override.get("method", dataset["model"]["method"])
            key = method_rules.foreign_key(override, method)
            if key is not None:
                raise ParamsError(f"variants.{vid}.{key}: not a setting of method {method!r} (on dataset {dname}); "
                                  f"a variant of method {method} sets {_settings_of(method)}")
            problem = _model_problem(model_spec(params, dname, vid), expanded)
            if problem:
                raise ParamsError(f"variants.{vid}.{problem} (on dataset {dname})")
    if running:
        _check_coverage(params, running)


def _settings_of(method: str) -> str:
    if method == method_rules.MLP:
        return "the MLP keys (hidden_layers, dropout, optimizer, ...)"
    return f"its block `{method}: {{...}}` and {', '.join(method_rules.SHARED_KEYS)}"


def _check_coverage(params: dict, running: list[str]) -> None:
    """Every dataset of the run gets a variant, and every variant runs somewhere (the rule in method_rules)."""
    ran = {v for d in params["run"]["datasets"] for v in dataset_variants(params, d)}
    for dname in params["run"]["datasets"]:
        if not dataset_variants(params, dname):
            raise ParamsError(f"run.datasets: no variant of the run applies to dataset {dname!r} "
                              f"({_why_not(params, dname, running[0])}); add an mlp variant")
    for vid in running:
        if vid not in ran:
            why = _why_not(params, params["run"]["datasets"][0], vid)
            raise ParamsError(f"run.variants: {vid!r} applies to no dataset of the run ({why})")


def _why_not(params: dict, dataset: str, variant: str) -> str:
    method = model_spec(params, dataset, variant)["method"]
    reason = _left_out(params, dataset, variant)
    return f"method {method} does not run on {'images' if reason == 'images' else 'regression tasks'}" if reason \
        else "it applies"


def _check_gates(params: dict) -> None:
    from .check import gate_problem

    for name, gates in params["gates"].items():
        if name not in params["datasets"]:
            raise ParamsError(f"gates.{name}: unknown dataset {name!r} (defined in datasets: "
                              f"{', '.join(sorted(params['datasets']))})")
        regression = sources.is_regression(params["datasets"][name])
        for metric, bounds in gates.items():
            problem = gate_problem(metric, bounds, regression)
            if problem:
                raise ParamsError(f"gates.{name}.{problem}")


def _model_problem(spec: dict, variants: dict) -> str | None:
    """A combination of model keys that cannot work, as 'key: why', or None."""
    if spec["method"] != method_rules.MLP:
        return None
    if isinstance(spec["dropout"], list) and len(spec["dropout"]) != len(spec["hidden_layers"]):
        return f"dropout: {len(spec['dropout'])} rates for {len(spec['hidden_layers'])} hidden layers"
    if spec["backend"] == "numpy":
        if spec["optimizer"] != "sgd":
            return f"optimizer: the numpy backend trains with sgd (optionally momentum), not {spec['optimizer']!r}"
        for key in ("dropout", "lr_schedule", "early_stopping", "warm_start", "mixed_precision"):
            if spec.get(key):
                return f"{key}: not available with the numpy backend"
        if spec["precision"] != "float32":
            return f"precision: the numpy backend computes in float64, not {spec['precision']}"
    parent = spec["warm_start"]
    if parent is not None:
        if parent not in variants:
            return f"warm_start: unknown variant {parent!r}"
        if variants[parent][1].get("warm_start"):
            return f"warm_start: {parent!r} is itself warm-started; start from a variant trained from scratch"
    return None


def grid(params: dict) -> list[tuple[str, str]]:
    """The (dataset, variant id) pairs that run, datasets outermost, in a stable order: every dataset x every
    variant, less a variant whose method does not take the dataset (method_rules.TAKES)."""
    return [(d, v) for d in params["run"]["datasets"] for v in dataset_variants(params, d)]


def dataset_variants(params: dict, dataset: str) -> list[str]:
    """The variant ids of the run that apply to one dataset."""
    return [v for v in run_variants(params) if _left_out(params, dataset, v) is None]


def left_out(params: dict) -> list[tuple[str, str, str]]:
    """(dataset, variant, why) of every pair the rule leaves out: "images" or "regression"."""
    return [(d, v, why) for d in params["run"]["datasets"] for v in run_variants(params)
            if (why := _left_out(params, d, v))]


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
    """The dataset's base model with the variant's overrides applied (a reference method's block key by key),
    reduced to the keys its method reads (method_rules.own_keys)."""
    base, override = params["datasets"][dataset]["model"], expand_variants(params["variants"])[variant][1]
    spec = {**base, **override}
    for block in method_rules.REFERENCE:
        if block in override:
            spec[block] = {**base.get(block, {}), **override[block]}
    return method_rules.own_keys(spec, spec["method"])


def section_defaults(section: str, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """A top-level section's keys with their schema defaults (e.g. `overtraining`, `download`): for callers of
    the library code outside the pipeline, which takes every setting as a plain value."""
    return _defaults(load_schema(schema_path)["properties"][section]["properties"])


def model_defaults(schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Every model key with its schema default (what a dataset's `model: {}` becomes)."""
    return _defaults(load_schema(schema_path)["$defs"]["model"]["properties"])


def _defaults(properties: dict) -> dict:
    """Keys with their defaults; an object defaulting to {} gets its own keys' defaults (as validation fills)."""
    out = {}
    for key, spec in properties.items():
        if "default" in spec:
            out[key] = copy.deepcopy(spec["default"])
            if out[key] == {} and "properties" in spec:
                out[key] = _defaults(spec["properties"])
    return out


def inline(value: Any) -> str:
    """A value as one line of YAML flow style (`{dataset: iris, model: {epochs: 30}}`): how the rules hand settings
    and paths to the CLI - as readable in `snakemake --report` and job listings as JSON is not (no escaped quotes)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(value, Dumper=dumper, default_flow_style=True, width=1 << 30, sort_keys=True).strip()


def parse_inline(text: str) -> Any:
    """`inline`'s text (or JSON, which is YAML too) back to the value."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


FETCH_POLICY_KEYS = ("mirrors", "retries", "timeout")


def fetch_policy(params: dict) -> dict:
    """How the download stage fetches (mirrors, retries, timeout): deliberately not stage settings, since it
    does not change what lands in the cache, so editing it reruns nothing."""
    return {k: params["download"][k] for k in FETCH_POLICY_KEYS}


SLURM_SITE_DEFAULTS = {"partition": "", "account": "", "gpu_partition": "", "gpus": 1, "gpu_model": "",
                       "cpus_per_gpu": 2}


def slurm_site(path: str | Path, environ: dict | None = None) -> dict[str, str]:
    """The slurm profile's site settings as MLBASICS_SLURM_<KEY> variables: the environment, else the site
    file, else the defaults. An unknown key in the site file is an error naming it."""
    environ = os.environ if environ is None else environ
    site = dict(SLURM_SITE_DEFAULTS)
    if Path(path).is_file():
        given = read_yaml(Path(path))
        unknown = sorted(set(given) - set(site))
        if unknown:
            raise ParamsError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(site)})")
        site.update({k: v for k, v in given.items() if v is not None})
    resolved = {f"MLBASICS_SLURM_{k.upper()}": str(environ.get(f"MLBASICS_SLURM_{k.upper()}", v))
                for k, v in site.items()}
    if not resolved["MLBASICS_SLURM_GPU_PARTITION"]:
        resolved["MLBASICS_SLURM_GPU_PARTITION"] = resolved["MLBASICS_SLURM_PARTITION"]
    return resolved
