"""Each stage's settings are a typed record (stages/settings.py): what the declarations build from params is
exactly that record, for every stage of the default grid, and a job given settings its stage does not know stops
in one line before it runs."""

from __future__ import annotations

import sys
from dataclasses import fields

import pytest

from mlbasics.params import config
from mlbasics.pipeline import declarations as stages
from mlbasics.stages import settings as typed
from tests.helpers import ROOT, run


@pytest.fixture(scope="module")
def params() -> dict:
    return config.load_params(ROOT / "params.yaml")


@pytest.mark.parametrize("stage", list(stages.STAGES))
def test_the_declared_settings_are_the_stage_s_record(params, stage):
    for dataset, variant in config.grid(params):
        mapping = stages.job_settings(params, stage, dataset, variant)
        record = typed.parse(stage, mapping)
        assert typed.as_mapping(record) == {f.name: mapping.get(f.name) for f in fields(record)}


def test_unknown_and_missing_settings_are_named():
    with pytest.raises(typed.SettingsError, match="train: unknown setting 'epochs'"):
        typed.parse("train", {"dataset": "d", "variant": "v", "seed": 0, "model": {}, "epochs": 3})
    with pytest.raises(typed.SettingsError, match="train: setting 'seed' missing"):
        typed.parse("train", {"dataset": "d", "variant": "v", "model": {}})


def test_a_job_with_settings_its_stage_does_not_know_stops_in_one_line(tmp_path):
    result = run(
        [sys.executable, "-m", "mlbasics", "check", "--settings", "{datasets: [iris], pairs: [], gate: {}}"],
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: check: unknown setting 'gate' (its settings: datasets, gates, pairs)"
    ]
