"""params.yaml: load, validate against the JSON Schema (filling its defaults), resolve per-stage settings.

This module is imported by the Snakefile, so it must stay light: no TensorFlow, no MLflow.
Every stage reads params only through `stages.stage_settings`, built from the keys its declaration names, so
the params a DVC stage declares are exactly the params it reads.

The variant grid (sweeps, which variants run where, a run's model spec) is params/grid.py; its names are
re-exported here for the callers that read params through this module. Each stage's settings are declared in
pipeline/declarations.py.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mlbasics.core.errors import ParamsError
from mlbasics.data import sources
from mlbasics.methods import registry as method_rules
from mlbasics.params.apply_sets import apply_left_out, apply_sets, check_apply  # noqa: F401 - re-exported
from mlbasics.params.grid import (  # noqa: F401 - re-exported: params.config is where callers read params
    _left_out,
    _method_blocks,
    check_split,
    dataset_variants,
    deep_merge,
    expand_variants,
    folds,
    grid,
    left_out,
    model_spec,
    run_variants,
    split_key,
    split_of,
    variant_source,
    warm_start_parent,
)
from mlbasics.params.reading import CLEARABLE, check_override, locate, read_yaml

SCHEMA_PATH = Path(__file__).resolve().parent / "params.schema.yaml"  # package data: defaults and descriptions


def load_params(path: str | Path | list, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Read a params YAML file (or several, each deep-merged over the previous one, as Snakemake merges
    `--configfile`) and return it validated, with schema defaults filled in. Errors name the file and line of
    the key they are about."""
    paths = [Path(one) for one in (path if isinstance(path, list) else [path])]
    params: dict = {}
    for i, one in enumerate(paths):
        content = read_yaml(one)
        if i:  # merged over the ones before, as a --configfile
            check_override(one, content)
        params = deep_merge(params, content)
    try:
        return validate_params(params, schema_path)
    except ParamsError as exc:
        raise locate(exc, paths) from None


def load_schema(schema_path: str | Path = SCHEMA_PATH) -> dict:
    """The params schema; a variant (model_override) may set any model key, each a reference to the model's own
    definition - so a method's block is written once, under the model."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    override = schema["$defs"]["model_override"]["properties"]
    for key in schema["$defs"]["model"]["properties"]:
        override.setdefault(key, {"$ref": f"#/$defs/model/properties/{key}"})
    return schema


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
    for key in CLEARABLE:  # `gates: null` in a --configfile clears the gates (a mapping would merge)
        if key in params and params[key] is None:
            params[key] = {}
    written = _method_blocks(params.get("variants"))
    validator = _DefaultingValidator(load_schema(schema_path))
    errors = sorted(validator.iter_errors(params), key=lambda e: (list(e.absolute_path), e.validator))
    if errors:
        raise ParamsError(_describe(jsonschema.exceptions.best_match(errors)))
    for name, blocks in written.items():  # a variant's block overrides key by key: its defaults come from the base
        params["variants"][name].update(blocks)
    _check_semantics(params, validator)
    return params


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
    if validator is not None:
        _check_sweeps(params, validator)
    expanded = expand_variants(params["variants"])
    running = (
        run_variants(params) if all(v in {**params["variants"], **expanded} for v in params["run"]["variants"]) else []
    )
    check_split(params, running)
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
            raise ParamsError(
                f"expected_yields.{name}: unknown dataset {name!r} (defined in datasets: "
                f"{', '.join(sorted(params['datasets']))})"
            )
    for vid, (_, override) in expanded.items():
        for dname, dataset in params["datasets"].items():
            method = override.get("method", dataset["model"]["method"])
            key = method_rules.foreign_key(override, method)
            if key is not None:
                raise ParamsError(
                    f"variants.{vid}.{key}: not a setting of method {method!r} (on dataset {dname}); "
                    f"a variant of method {method} sets {_settings_of(method)}"
                )
            problem = _model_problem(model_spec(params, dname, vid), expanded)
            if problem:
                raise ParamsError(f"variants.{vid}.{problem} (on dataset {dname})")
    if running:
        _check_coverage(params, running)
        check_apply(params)


def _settings_of(method: str) -> str:
    if method == method_rules.MLP:
        return "the MLP keys (hidden_layers, dropout, optimizer, ...)"
    return f"its block `{method}: {{...}}` and {', '.join(method_rules.SHARED_KEYS)}"


def _check_coverage(params: dict, running: list[str]) -> None:
    """Every dataset of the run gets a variant, and every variant runs somewhere (the rule in method_rules)."""
    ran = {v for d in params["run"]["datasets"] for v in dataset_variants(params, d)}
    for dname in params["run"]["datasets"]:
        if not dataset_variants(params, dname):
            raise ParamsError(
                f"run.datasets: no variant of the run applies to dataset {dname!r} "
                f"({_why_not(params, dname, running[0])}); add an mlp variant"
            )
    for vid in running:
        if vid not in ran:
            why = _why_not(params, params["run"]["datasets"][0], vid)
            raise ParamsError(f"run.variants: {vid!r} applies to no dataset of the run ({why})")


def _why_not(params: dict, dataset: str, variant: str) -> str:
    method = model_spec(params, dataset, variant)["method"]
    reason = _left_out(params, dataset, variant)
    return (
        f"method {method} does not run on {'images' if reason == 'images' else 'regression tasks'}"
        if reason
        else "it applies"
    )


def _check_gates(params: dict) -> None:
    from mlbasics.report.gates import gate_problem

    for name, gates in params["gates"].items():
        if name not in params["datasets"]:
            raise ParamsError(
                f"gates.{name}: unknown dataset {name!r} (defined in datasets: {', '.join(sorted(params['datasets']))})"
            )
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
# How Snakemake hands the fetch policy to its download jobs: from outside the rules' params, since changing mirrors,
# retries or the timeout must rerun nothing
ENV_FETCH_POLICY = "MLBASICS_FETCH_POLICY"


def fetch_policy(params: dict) -> dict:
    """How the download stage fetches (mirrors, retries, timeout): deliberately not stage settings, since it
    does not change what lands in the cache, so editing it reruns nothing."""
    return {k: params["download"][k] for k in FETCH_POLICY_KEYS}


SLURM_SITE_DEFAULTS = {
    "partition": "",
    "account": "",
    "gpu_partition": "",
    "gpus": 1,
    "gpu_model": "",
    "cpus_per_gpu": 2,
}


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
    resolved = {
        f"MLBASICS_SLURM_{k.upper()}": str(environ.get(f"MLBASICS_SLURM_{k.upper()}", v)) for k, v in site.items()
    }
    if not resolved["MLBASICS_SLURM_GPU_PARTITION"]:
        resolved["MLBASICS_SLURM_GPU_PARTITION"] = resolved["MLBASICS_SLURM_PARTITION"]
    return resolved
