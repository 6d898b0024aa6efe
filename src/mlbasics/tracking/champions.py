"""The model registry: each dataset's best run, registered as the model `<experiment>-<dataset>` with the alias
`champion` on its version - `models:/mlbasics-hep@champion` loads it anywhere MLflow reaches the store. The track
stage crowns after every pipeline run: a run better on the dataset's headline number (ROC AUC for two classes,
accuracy for more, MSE for a regression) than the champion takes the alias; the old version stays, without it.
"""

from __future__ import annotations

import contextlib

from mlbasics.core.files import read_json
from mlbasics.evaluation.bootstrap import HEADLINES, LOWER_IS_BETTER
from mlbasics.tracking.runs import global_uri, metric_name

ALIAS = "champion"


def crown(uri: str, experiment: str, rows: list[dict]) -> list[str]:
    """For each dataset among the imported runs (import_records' rows: record path and run id), move the alias to
    its best run's model where that beats the champion; one line per dataset saying who holds it."""
    return [line for line, _ in crowned(uri, experiment, rows)]


def crowned(uri: str, experiment: str, rows: list[dict]) -> list[tuple[str, dict]]:
    """crown's lines, each with the dataset's best run among `rows` (dataset, variant, run_id, metric, value)."""
    from mlflow import MlflowClient

    client = MlflowClient(uri, registry_uri=uri)  # the registry in the same store, wherever the job runs
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    best: dict[str, tuple[float, dict]] = {}
    for row in rows:
        record = read_json(row["record"])
        task = record["tags"].get("task")
        if task not in HEADLINES:
            continue
        name = metric_name(HEADLINES[task][0])
        value = next((v for k, v, *_ in record["metrics"] if k == name), None)
        if value is None:
            continue
        score = -value if HEADLINES[task][0] in LOWER_IS_BETTER else value
        dataset = row["dataset"]
        if dataset not in best or score > best[dataset][0]:
            best[dataset] = (score, {**row, "metric": name, "value": value, "task": task})
    return [(_crown_one(client, experiment, experiment_id, d, run), run) for d, (_, run) in sorted(best.items())]


def _crown_one(client, experiment: str, experiment_id: str, dataset: str, run: dict) -> str:
    from mlflow.exceptions import MlflowException

    model = f"{experiment}-{dataset}"
    with contextlib.suppress(MlflowException):  # registered by an earlier pipeline run
        client.create_registered_model(model, description=f"the best run of dataset {dataset} ({run['metric']})")
    holder = _holder(client, model)
    lower = run["metric"].split("/", 1)[1] in LOWER_IS_BETTER
    if holder is not None:
        held = client.get_run(holder.run_id).data.metrics.get(run["metric"])
        replaced = client.get_run(holder.run_id).data.tags.get("mlbasics.replaced_by")
        if holder.run_id == run["run_id"] or (
            held is not None and not replaced and (held <= run["value"] if lower else held >= run["value"])
        ):
            return f"{model}@{ALIAS}: {_label(client, holder.run_id)} stays ({run['metric']} {held:.4g})"
    logged = client.search_logged_models(
        experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run['run_id']}'", max_results=1
    )
    if not logged:
        return f"{model}@{ALIAS}: {run['dataset']}/{run['variant']} is best, but its run holds no model"
    with global_uri(client.tracking_uri):  # MLflow looks the logged model up in its process-wide store
        version = client.create_model_version(
            model,
            source=logged[0].model_uri,
            run_id=run["run_id"],
            model_id=logged[0].model_id,
            tags={"dataset": dataset, "variant": run["variant"], run["metric"]: f"{run['value']:.6g}"},
        )
    client.set_registered_model_alias(model, ALIAS, version.version)
    who = f"{run['dataset']}/{run['variant']}"
    return f"{model}@{ALIAS}: version {version.version}, {who} ({run['metric']} {run['value']:.4g})"


def _holder(client, model: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model, ALIAS)
    except MlflowException:
        return None


def _label(client, run_id: str) -> str:
    tags = client.get_run(run_id).data.tags
    return f"{tags.get('dataset')}/{tags.get('variant')}"


def summarise(uri: str, experiment: str, rows: list[dict], best: list[dict], files: list[str]) -> str:
    """The parent run of the pipeline that ran the latest of the imported runs (`rows`: import_records') gets the
    summary: each dataset's best run as metrics (`best/<dataset>/<metric>`) and a tag naming it, and `files` (the
    index page, summary.csv) as artifacts - no parent of its own where the track stage is run again by hand.
    Its run id."""
    from mlflow import MlflowClient

    from mlbasics.tracking.runs import parent_run

    client = MlflowClient(uri, registry_uri=uri)  # the registry in the same store, wherever the job runs
    latest = max((read_json(row["record"]) for row in rows), key=lambda record: record["end_time"])
    parent = parent_run(client, uri, client.get_experiment_by_name(experiment).experiment_id, latest["invocation"])
    for run in best:
        client.log_metric(parent, f"best/{run['dataset']}/{run['metric'].split('/', 1)[1]}", run["value"])
        client.set_tag(parent, f"best.{run['dataset']}", run["variant"])
    for path in files:
        client.log_artifact(parent, path)
    return parent
