"""The train stage, top-down: load the split data, let the variant's method fit it (resuming from the last
checkpointed epoch if a killed job left one), save the model, a per-epoch history and the run's statistics.

What a method is and how the MLPs train (deterministic, resumable, fast) is in methods.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from mlbasics.core.errors import ParamsError
from mlbasics.core.files import atomic_path, read_json, write_arrays, write_csv, write_json
from mlbasics.core.tasks import check_request, history_columns
from mlbasics.data import bundle, preprocess
from mlbasics.data.event_weights import check_classes
from mlbasics.data.preprocess import Scaler
from mlbasics.evaluation import response
from mlbasics.methods import mlp, onnx_export, tensorboard_logs
from mlbasics.methods import training as methods
from mlbasics.methods.checkpoint import Checkpoint, checkpoint_folder
from mlbasics.report.progress import FILE as PROGRESS_FILE
from mlbasics.report.progress import Progress
from mlbasics.stages.settings import TrainSettings

ONNX_FILE = "model.onnx"  # in the model folder, beside the method's own file


def run(settings: TrainSettings, inputs: dict, outputs: dict, threads: int = 0) -> None:
    """The train stage: processed data in; model, history.csv, run_stats.json and the model's scores out. With
    k folds (train_fold), fold `settings.fold`'s model: trained on the other folds, scored on this one."""
    split = preprocess.load(inputs["data"], fold=settings.fold)
    try:  # before TensorFlow starts: a task the data cannot have is a params mistake
        check_request(split.task, settings.model.get("task", "auto"), len(split.class_names))
    except ValueError as exc:
        raise ParamsError(f"datasets.{settings.dataset}.model.task (variant {settings.variant}): {exc}") from None
    negative = settings.model.get("event_weights", {}).get("negative", "ignore")
    for part, sample in (("train", "training"), ("val", "validation")):  # a class nothing of which counts
        check_classes(split.weights(part), split.arrays[f"y_{part}"], split.class_names, sample, negative)
    name = f"{settings.dataset}/{settings.variant}" + (f"/fold-{settings.fold}" if settings.fold is not None else "")
    print(f"{name}: settings {json.dumps(settings.model, sort_keys=True)}", flush=True)  # the log's first line
    methods.prepare(settings.model, threads)
    folder = checkpoint_folder(outputs["model"])
    method = methods.create(settings.model)
    # progress.json beside the model: what `python -m mlbasics progress` shows while the job runs
    progress = Progress(Path(outputs["model"]).parent / PROGRESS_FILE, method.total_steps(), method.step)
    rows, stats = method.fit(
        split.arrays,
        split.task,
        len(split.class_names),
        settings.seed,
        checkpoint_dir=folder,
        init_model=inputs.get("init"),
        verbose=2,
        threads=threads,
        progress=progress,
        tensorboard=tensorboard_logs.folder_of(settings.dataset, settings.variant, settings.fold),
    )
    method.save(outputs["model"])
    scaler = preprocess.scaler_of(read_json(inputs["scaler"]), settings.fold)
    exported = write_onnx(method, split, scaler, Path(outputs["model"]) / ONNX_FILE)
    print(f"{name}: {exported}", flush=True)
    scores = outputs_of(method, split)
    scores.update(replicas(settings, split, Path(outputs["model"]), threads))
    write_arrays(outputs["scores"], scores)
    write_json(
        outputs["bundle"],
        bundle_of(settings, split, scaler, type(method).FILE, ONNX_FILE if exported.startswith("ONNX") else None),
    )
    write_csv(outputs["history"], history_columns(split.task), rows)
    from mlbasics.core.provenance import device

    # where it trained (a GPU node, a SLURM job): evaluation may run elsewhere, so it is recorded here
    where = {
        "device": device(),
        **{
            key: os.environ[name]
            for key, name in (("slurm_job_id", "SLURM_JOB_ID"), ("cuda_visible_devices", "CUDA_VISIBLE_DEVICES"))
            if name in os.environ
        },
        **({"warm_worker": True} if os.environ.get("MLBASICS_WORKER_JOB") else {}),
    }  # run by worker.py
    write_json(outputs["stats"], {**stats, "threads": threads, **where})
    Checkpoint(folder, "").clear()
    last = dict(zip(history_columns(split.task)[1:], rows[-1][1:], strict=True))
    print(
        f"{name}: trained, {len(rows)} {method.step or 'step'}(s) in {stats['train_wall_s']:.1f} s; "
        + ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k.startswith("val_")),
        flush=True,
    )


REPLICAS = "replicas"  # in the model folder: replicas/seed-<n>/, the other seeds' models (model key `seeds`)


def replicas(settings: TrainSettings, split: preprocess.Split, model: Path, threads: int) -> dict:
    """The other seeds' replicas of the model (model key `seeds`: seed+1, ...), each saved in
    <model>/replicas/seed-<n>/, and their scores on the test and validation samples (test_seed_<n>, val_seed_<n>):
    the evaluation's seed-to-seed spread."""
    found = {}
    for seed in range(settings.seed + 1, settings.seed + settings.model.get("seeds", 1)):
        method = methods.create(settings.model)
        method.fit(split.arrays, split.task, len(split.class_names), seed, threads=threads)
        method.save(model / REPLICAS / f"seed-{seed}")
        for part in ("test", "val"):
            found[f"{part}_seed_{seed}"] = method.predict(split.arrays[f"x_{part}"])
        print(f"{settings.dataset}/{settings.variant}: replica with seed {seed} trained", flush=True)
    return found


def write_onnx(method, split: preprocess.Split, scaler: dict, path: Path) -> str:
    """The model as ONNX with its scaler folded in (methods/onnx_export.py), taking the raw inputs in the bundle's
    order; what happened, in words, for the log."""
    if split.image_shape:
        return "no ONNX model (its inputs are images)"
    try:
        data = onnx_export.export(method, Scaler.from_dict(scaler), split.task, split.arrays["x_train"].shape[1])
    except onnx_export.NotExportable as exc:
        return f"no ONNX model ({exc})"
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return f"ONNX model {path} ({len(data):,} bytes)"


def bundle_of(
    settings: TrainSettings, split: preprocess.Split, scaler: dict, model_file: str, onnx_file: str | None
) -> dict:
    """The model's bundle (data/bundle.py): its inputs, their selection and scaler, its classes and task."""
    return bundle.build(
        dataset=settings.dataset,
        variant=settings.variant,
        loader=settings.loader,
        selection=settings.selection,
        inputs=split.feature_names,
        scaler=scaler,
        class_names=split.class_names,
        task=split.task,
        method=settings.model.get("method", "mlp"),
        model_file=f"model/{model_file}",
        onnx_file=f"model/{onnx_file}" if onnx_file else None,
        spec=dict(settings.model),
    )


def outputs_of(method, split: preprocess.Split) -> dict:
    """What the evaluation needs of the saved model, computed here where it is in memory, so that it loads no
    model unless an importance asks for one: the scores on the test, training and validation samples (the same
    numbers: a test compares them with the loaded model's; validation chooses the best cut and the best variant);
    over a 2-D classifier's decision-boundary grid ("boundary"); an image classifier's first 16 hidden units'
    input weights ("input_weights") and its class templates ("class_templates", mlp.class_templates)."""
    x = split.arrays["x_test"]
    found = {part: method.predict(split.arrays[f"x_{part}"]) for part in ("test", "train", "val")}
    if split.task != "regression" and x.shape[1] == 2:
        found["boundary"] = method.predict(response.grid_points(*response.boundary_grid(x)))
    kernel = method.input_weights() if split.image_shape else None
    if kernel is not None and kernel.shape[0] == int(np.prod(split.image_shape)):
        found["input_weights"] = np.asarray(kernel[:, :16], dtype=np.float32)
        found["class_templates"] = mlp.class_templates(method.model)  # the MLP's (reference methods take no images)
    return found
