"""Names the file and line of a YAML syntax error in a Snakemake `--configfile`.

Snakemake reads `--configfile` files before any Snakefile code runs, and when one is not valid YAML it says only
"Config file is not valid JSON or YAML" - no file, no line. scripts/setup.sh puts a one-line .pth file into
.venv that imports this module at interpreter start; it registers an import hook that, once Snakemake imports
`snakemake.common.configfile`, wraps that module's reader so the same failure reads
`invalid params: <file>:<line>:<column>: not valid YAML: <problem>` (params_file's wording, as for params.yaml).
A file Snakemake reads today is read exactly as before; only the message of one that fails changes, and any
trouble in the hook leaves Snakemake as it is. It wraps Snakemake's private `_load_configfile` (the version is
pinned in requirements.lock; tests/test_config.py fails if a Snakemake upgrade moves it).

Light on purpose: it runs in every Python process of .venv, so it imports nothing until Snakemake is imported.
"""

from __future__ import annotations

import sys

TARGET = "snakemake.common.configfile"


class _ConfigfileFinder:
    """A meta-path finder that finds nothing itself: it lets the real finder load TARGET, then wraps its reader."""

    def find_spec(self, name, path=None, target=None):
        if name != TARGET:
            return None
        sys.meta_path.remove(self)  # once: and the real finders below answer the lookup
        try:
            import importlib.util

            spec = importlib.util.find_spec(name)
            original = spec.loader.exec_module

            def exec_module(module):
                original(module)
                _wrap(module)

            spec.loader.exec_module = exec_module
            return spec
        except Exception:  # never break Snakemake: without the hook it works as shipped
            return None


def _wrap(module) -> None:
    load = getattr(module, "_load_configfile", None)
    if load is None:
        return

    def load_located(configpath_or_obj, filetype="Config"):
        try:
            return load(configpath_or_obj, filetype)
        except module.WorkflowError as exc:
            located = _located(configpath_or_obj, exc.__context__)
            if located is not None:  # the same error, so Snakemake prints it as its own (no frame of ours)
                exc.args = (f"invalid params: {located}" if filetype == "Config" else f"{filetype} file {located}",)
            raise

    module._load_configfile = load_located


def _located(source, cause) -> str | None:
    """`<file>:<line>:<column>: not valid YAML: <problem>` for a YAML error in a file; None for anything else."""
    import os
    from pathlib import Path

    import yaml

    if not isinstance(source, (str, os.PathLike)) or not isinstance(cause, yaml.YAMLError):
        return None
    from mlbasics.params.reading import yaml_error

    path = Path(source)
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        path = path.relative_to(Path.cwd())
    return str(yaml_error(path, cause))


def install() -> None:
    if not any(isinstance(finder, _ConfigfileFinder) for finder in sys.meta_path) and TARGET not in sys.modules:
        sys.meta_path.insert(0, _ConfigfileFinder())


install()
