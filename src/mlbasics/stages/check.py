"""The check stage: every run's metrics held against the quality gates in params."""

from __future__ import annotations

from mlbasics.core.files import read_json, write_json
from mlbasics.report.gates import GateError, describe, judge
from mlbasics.stages.settings import CheckSettings


def run(settings: CheckSettings, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The check stage: every run's metrics in; reports/checks.json out, or GateError naming each violation."""
    pairs = [tuple(pair) for pair in settings.pairs]
    runs = {pair: read_json(path) for pair, path in zip(pairs, inputs["metrics"], strict=True)}
    rows = judge(settings.gates, runs)
    failed = [describe(r) for r in rows if not r["passed"]]
    if failed:
        raise GateError("\n".join(failed))
    write_json(outputs["checks"], {"gates": len(rows), "passed": len(rows), "results": rows})
    print(f"check: {len(rows)} gates passed over {len(runs)} runs")
