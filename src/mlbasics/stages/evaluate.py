"""The evaluate stage: a trained model on the held-out test split - metrics, bootstrap intervals, TMVA's
overtraining check, the importance of the inputs, the variant's figures - and one MLflow run holding params,
curves, metrics and artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlbasics.core import plots, provenance
from mlbasics.core.files import read_arrays, read_csv, read_json, sha256_file, write_csv, write_json
from mlbasics.data import preprocess
from mlbasics.data.event_weights import check_classes
from mlbasics.evaluation import bootstrap, diagnostics, overtraining, physics_plots, response
from mlbasics.evaluation.evaluate import classes_of, classification, headline_numbers, regression
from mlbasics.methods import registry
from mlbasics.methods import training as methods
from mlbasics.stages.settings import EvaluateSettings, as_mapping
from mlbasics.tracking import runs as tracking


class OnDemand:
    """The trained model, loaded on first use: the evaluation needs only what its training wrote (scores.npz),
    unless an importance (a reference method's) or MLflow's scikit-learn model asks for it."""

    def __init__(self, load):
        self._load, self._method = load, None

    def __getattr__(self, name: str):
        if self._method is None:
            self._method = self._load()
        return getattr(self._method, name)


def run(settings: EvaluateSettings, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The evaluate stage: model + test split in; metrics, confusion, figures out; one MLflow run. A k-fold variant
    (split.folds) is judged on its pooled samples: every event's out-of-fold score is its test score."""
    split, view, folded = samples(inputs["data"])
    # before any number is computed or logged: a class without weight has no metric
    check_classes(split.weights("test"), split.arrays["y_test"], split.class_names, "test")
    kind = methods.method_class(settings.model)

    def load():  # TensorFlow is started (seconds) only where the model is loaded or logged
        methods.prepare(settings.model, threads)
        return methods.load(settings.model, Path(inputs["model"]) / "fold-0" if folded else inputs["model"])

    method = OnDemand(load)
    dataset, variant = settings.dataset, settings.variant
    history = read_csv(inputs["history"])
    title = f"{dataset} / {variant}: test set"
    regression_task = split.task == "regression"
    scores = read_arrays(inputs["scores"])  # the saved model's outputs on the test and training samples
    if regression_task:
        metrics, panels, columns = regression(method, split, scores, title, outputs, settings.figures)
    else:
        metrics, panels, columns = classification(
            method, split, scores, title, outputs, settings.expected, settings.figures
        )
    # the validation sample's headline numbers: the report chooses each method's best variant on them
    found = headline_numbers(split.task, split.arrays["y_val"], scores["val"], split.weights("val"))
    metrics.update({f"validation_{k}": v for k, v in found.items()})
    y_test, w_test = split.arrays["y_test"], split.weights("test")
    metrics.update(seed_numbers(split.task, y_test, w_test, scores))
    found = bootstrap.replicates(
        split.task,
        y_test,
        headline_scores(split.task, scores["test"]),
        w_test,
        settings.bootstrap["resamples"],
        settings.seed,
        split.groups("test"),  # events with several rows are drawn whole
    )
    metrics.update(bootstrap.intervals_of(found, settings.bootstrap["confidence"]))
    bootstrap.write(outputs["bootstrap"], found)
    write_importance(
        outputs["importance"],
        method.importance(view.arrays["x_test"], view.arrays["y_test"], view.weights("test"), split.task, settings.seed)
        if kind.ranks_inputs
        else None,
    )
    # a k-fold variant's numbers per fold; its response figure: the pooled samples, then each fold's model alone
    numbers, fold_panels = fold_numbers(inputs["data"], split, scores) if folded else ({}, [])
    metrics.update(numbers)
    checked = response.check(
        split.task,
        split.class_names,
        *((split.arrays[f"y_{part}"], scores[part], split.weights(part)) for part in ("train", "test")),
    )
    metrics.update(response.ks_numbers(checked))
    judged = judge(settings, inputs["stats"], history, checked)
    origin = split.arrays.get("origin_test")
    if origin is not None:  # each test event's file and entry: its score can be traced, and checked against apply
        columns["file"] = np.asarray(split.origin_files, dtype=object)[origin[:, 0]].tolist()
        columns["entry"] = origin[:, 1].tolist()
    # row by row from the columns: no list per event of two million test events
    write_csv(outputs["predictions"], list(columns), zip(*columns.values(), strict=True))
    if settings.figures:  # the variant's figures (VARIANT_FIGURES), unless params say figures.per_variant: false
        physics_plots.response(
            checked["panels"] + fold_panels,
            f"{dataset} / {variant}: training (points) vs test sample",
            outputs["response"],
            checked["xlabel"],
        )
        plots.training_curves(history, f"{dataset} / {variant}", outputs["curves"], judged, step=kind.step)
        diagnostics.draw(title, panels, outputs["diagnostics"])
    git, software = provenance.git_state(), provenance.versions()
    # what decides the numbers: not where they are logged, nor whether figures are drawn
    model_settings = {k: v for k, v in as_mapping(settings).items() if k not in ("tracking", "figures")}
    prints = provenance.run_fingerprint(model_settings, sha256_file(inputs["data"]), git, software)
    # metrics.json holds numbers only (DVC compares them); what ran, and on what, goes to provenance.json
    write_json(
        outputs["metrics"],
        {**metrics, **{k: v for k, v in judged.items() if k != "verdict"}, **overtraining.flags(judged)},
    )
    write_json(outputs["provenance"], prints)
    record = run_record(
        settings,
        inputs,
        outputs,
        history,
        metrics,
        judged,
        provenance.provenance_tags(prints, git, software),
        split.task,
    )
    write_json(outputs["run"], record)
    headline = f"mse {metrics['mse']:.4g}" if regression_task else f"accuracy {metrics['accuracy']:.4f}"
    since = f" since epoch {judged['overfitting_since']}" if judged["overfitting_since"] else ""
    where = log_run(settings, record, outputs, threads)
    print(f"{dataset}/{variant}: test {headline}, {judged['verdict']}{since}, {where}")


def judge(settings: EvaluateSettings, stats: str, history: list[dict], checked: dict) -> dict:
    """The overtraining analysis and verdict (evaluation/overtraining.py) of the run's history, its KS check and
    whether early stopping ended its training (run_stats.json)."""
    stopped = bool(read_json(stats).get("stopped_early", False))
    return overtraining.analyse(history, settings.overtraining, checked["ks_p"], stopped)


def samples(data: str) -> tuple[preprocess.Split, preprocess.Split, bool]:
    """What the evaluation judges (the test split; a k-fold variant's pooled samples), what the importance is
    computed on (the test split; fold 0's, with fold 0's model) and whether the data is k-fold."""
    if not preprocess.is_folded(data):
        split = preprocess.load(data)
        return split, split, False
    return preprocess.pooled(data)[0], preprocess.load(data, fold=0), True


def fold_numbers(data: str, split: preprocess.Split, scores: dict) -> tuple[dict[str, float], list]:
    """A k-fold variant's numbers per fold: each headline number's mean and standard deviation (ddof 1) over the
    folds' test samples (<h>_fold_mean, <h>_fold_std) and TMVA's overtraining check per fold - fold i's model on
    its training vs its test events, a KS probability per class (ks_p_<class>_fold_<i>); and, where the check is
    one panel (two classes, a regression), each fold's panel for the response figure."""
    out: dict[str, float] = {"n_folds": split.folds}
    numbers, panels = [], []
    for i in range(split.folds):
        fold = preprocess.load(data, skip=("x_train", "x_val", "x_test"), fold=i)
        y, w = fold.arrays["y_test"], fold.weights("test")
        numbers.append(headline_numbers(split.task, y, scores[f"fold_{i}_test"], w))
        checked = response.check(
            split.task,
            split.class_names,
            (fold.arrays["y_train"], scores[f"fold_{i}_train"], fold.weights("train")),
            (y, scores[f"fold_{i}_test"], w),
        )
        out.update({f"ks_p_{response.metric_key(name)}_fold_{i}": p for name, p in checked["ks_p"].items()})
        if len(checked["panels"]) == 1:
            panels.append((f"fold {i}'s model: " + checked["panels"][0][0], checked["panels"][0][1]))
    for name in numbers[0]:
        values = np.array([n[name] for n in numbers if name in n])
        out[f"{name}_fold_mean"], out[f"{name}_fold_std"] = float(values.mean()), float(values.std(ddof=1))
    return out, panels


def seed_numbers(task: str, y: np.ndarray, w: np.ndarray | None, scores: dict) -> dict[str, float]:
    """Where the variant trained several seeds (model key `seeds`): each headline number's mean and standard
    deviation (ddof 1) over the replicas' test scores, the variant's own model first; nothing for one seed."""
    seeds = sorted(int(k.removeprefix("test_seed_")) for k in scores if k.startswith("test_seed_"))
    replicas = [scores["test"], *(scores[f"test_seed_{seed}"] for seed in seeds)]
    if len(replicas) < 2:
        return {}
    numbers = [headline_numbers(task, y, s, w) for s in replicas]
    out: dict[str, float] = {"n_seeds": len(replicas)}
    for name in numbers[0]:
        values = np.array([n[name] for n in numbers])
        out[f"{name}_seed_mean"], out[f"{name}_seed_std"] = float(values.mean()), float(values.std(ddof=1))
    return out


def headline_scores(task: str, scores: np.ndarray) -> np.ndarray:
    """What the headline numbers are computed from: the response (two classes), the predicted class (more),
    the predicted value (regression)."""
    return classes_of(scores) if task == "multiclass" else scores[:, 0].astype(np.float64)


def write_importance(path, found: tuple | None) -> None:
    """importance.csv: one row per input (its column in the processed data) with the method's importance and
    its error, and what the number measures; only the header for a method that has none (the MLP)."""
    rows = []
    if found is not None:
        measure, values, errors = found
        rows = [
            [j, float(value), "" if errors is None else float(errors[j]), measure] for j, value in enumerate(values)
        ]
    write_csv(path, ["input", "importance", "error", "measure"], rows)


def run_record(
    settings: EvaluateSettings,
    inputs: dict,
    outputs: dict,
    history: list[dict],
    metrics: dict,
    judged: dict,
    tags: dict,
    task: str,
) -> dict:
    """The run as MLflow will hold it: params, tags (provenance, where it trained), curves, test metrics."""
    stats = read_json(inputs["stats"]) if inputs.get("stats") else {}
    dataset, variant = settings.dataset, settings.variant
    # the keys the method reads, blocks key by key, as a reader of params.yaml types them (null, false, [64, 64])
    params = {
        **registry.run_params(settings.model),
        "seed": settings.seed,
        "dataset": dataset,
        "variant": variant,
    }
    return tracking.make_record(
        run_name=f"{dataset}/{variant}",
        params=params,
        history=history,
        tags={
            "dataset": dataset,
            "variant": variant,
            "task": task,
            "verdict": judged["verdict"],
            "verdict_reason": overtraining.reason(
                {**judged, "method": settings.model["method"], "epochs": len(history)}, settings.overtraining
            ),
            **tags,
            **{f"train_{k}": str(stats[k]) for k in ("device", "slurm_job_id", "precision") if k in stats},
        },
        metrics={**metrics, **{k: v for k, v in judged.items() if k != "verdict" and v is not None}},
        stats={k: float(v) for k, v in stats.items() if isinstance(v, (int, float)) and k != "started_ms"},
        artifacts=[inputs["history"], *(outputs[k] for k in outputs if k not in ("run", "provenance", "bootstrap"))],
        model={
            "path": str(inputs["model"]),
            "data": str(inputs["data"]),
            "spec": settings.model,
            **({"scores": str(inputs["scores"])} if inputs.get("scores") else {}),
            **({"bundle": str(inputs["bundle"])} if inputs.get("bundle") else {}),
        },
        started=stats["started_ms"] / 1000 if "started_ms" in stats else None,
        stamps={int(epoch): ms for epoch, ms in stats.get("epoch_end_ms", [])},
        dataset={"name": dataset, "digest": tags["data_sha256"][:16], "source": str(inputs["data"])},
    )


def log_run(settings: EvaluateSettings, record: dict, outputs: dict, threads: int = 0) -> str:
    """Log the run now (online) or leave it to the track stage (offline); where it is, in words."""
    track = tracking.settings_from_env(settings.tracking)
    if track.get("mode", "online") != "online":
        return f"run recorded offline in {outputs['run']}"
    methods.prepare(settings.model, threads)  # logging the model may start TensorFlow: with the job's threads
    run_id = tracking.log_online(
        tracking.resolve_uri(track["uri"]),
        track["experiment"],
        record,
        outputs["run"],
        retries=track.get("retries", 4),
        log_models=track.get("log_models", True),
    )
    return f"MLflow run {run_id}" if run_id else f"run kept in {outputs['run']}"
