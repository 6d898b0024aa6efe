"""Live progress of a grid's trainings, from files the jobs write wherever they run (a laptop, DVC, a SLURM node on
a shared file system): each training job keeps `models/<dataset>/<variant>/progress.json` up to date - epoch k of
N, the last losses, seconds per epoch - at most once a second; a finished one has its run_stats.json, an evaluated
one its metrics.json. `python -m mlbasics progress` shows every training of the grid (`--watch`: refreshed).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mlbasics.core.files import write_json

FILE = "progress.json"  # beside the model folder: models/<dataset>/<variant>/progress.json
EVERY_S = 1.0  # written at most this often (a BDT's iterations take milliseconds)


class Progress:
    """What a training job writes as it goes: `update` after each epoch (or boosting iteration)."""

    def __init__(self, path: str | Path, total: int, step: str | None):
        self.path, self.total, self.step = Path(path), total, step or "fit"
        self.started, self.written, self.first = time.time(), 0.0, None

    def update(self, epoch: int, row: list, columns: list[str], force: bool = False) -> None:
        now = time.time()
        self.first = self.first or (epoch, now)
        if not force and now - self.written < EVERY_S and epoch < self.total:
            return
        done = epoch - self.first[0] + 1  # epochs this job ran (a resumed job started later)
        write_json(
            self.path,
            {
                "epoch": epoch,
                "epochs": self.total,
                "step": self.step,
                "started": self.started,
                "updated": now,
                "seconds_per_epoch": (now - self.started) / done,
                **dict(zip(columns[1:], row[1:], strict=True)),
            },
        )
        self.written = now


def state(root: Path, dataset: str, variant: str, templates: dict[str, str]) -> dict:
    """One training's state: running (its progress.json newer than its run_stats.json), done (run_stats.json),
    evaluated (a metrics.json newer than that, whose test numbers it shows), or pending. `templates`: the paths
    of run_stats.json ("stats") and metrics.json ("metrics")."""
    stats = root / templates["stats"].format(dataset=dataset, variant=variant)
    metrics = root / templates["metrics"].format(dataset=dataset, variant=variant)
    out = {"dataset": dataset, "variant": variant, "status": "pending"}
    finished = stats.stat().st_mtime if stats.is_file() else None
    if (stats.parent / FILE).is_file():
        running = json.loads((stats.parent / FILE).read_text())
        if finished is None or running["updated"] > finished + 1:  # a rerun under way: the old files are stale
            return {**out, **running, "status": "running"}
    folds = sorted(stats.parent.glob(f"fold-*/{FILE}"), key=lambda p: p.stat().st_mtime)
    if finished is None and folds:  # a k-fold variant's trainings (split.folds): the one updated last
        return {**out, **json.loads(folds[-1].read_text()), "status": "running", "fold": folds[-1].parent.name}
    if finished is None:
        return out
    done = json.loads(stats.read_text())
    out.update(status="done", epoch=done.get("epochs_run"), wall_s=done.get("train_wall_s"))
    if metrics.is_file() and metrics.stat().st_mtime >= finished:
        numbers = json.loads(metrics.read_text())
        out.update(status="evaluated", test={k: numbers[k] for k in ("roc_auc", "accuracy", "mse") if k in numbers})
    return out


def rows(
    root: Path, pairs: list[tuple[str, str]], templates: dict[str, str], now: float | None = None
) -> list[list[str]]:
    """The table `progress` shows: one row per training of the grid."""
    now = now or time.time()
    table = []
    for dataset, variant in pairs:
        s = state(root, dataset, variant, templates)
        epoch = f"{s.get('epoch', '')}/{s.get('epochs', '')}" if s["status"] == "running" else str(s.get("epoch", ""))
        losses = " / ".join(f"{s[k]:.3f}" for k in ("loss", "val_loss") if isinstance(s.get(k), float))
        per_epoch, left = s.get("seconds_per_epoch"), ""
        if s["status"] == "running" and per_epoch is not None:
            left = f"{per_epoch * (s['epochs'] - s['epoch']):.0f} s"
            if now - s["updated"] > max(60.0, 10 * per_epoch):
                left = f"stalled? {now - s['updated']:.0f} s"  # since its last update
        result = ", ".join(f"{SHORT.get(k, k)} {v:.3f}" for k, v in s.get("test", {}).items())
        timing = (
            f"{per_epoch:.3f} s/{STEP.get(s.get('step', 'epoch'), 'step')}"
            if s["status"] == "running" and per_epoch
            else f"{s['wall_s']:.1f} s"
            if s.get("wall_s") is not None
            else ""
        )
        name = f"{dataset}/{variant}" + (f" ({s['fold']})" if "fold" in s else "")
        table.append([name, s["status"], epoch, losses, timing, left, result])
    return table


COLUMNS = ["run", "state", "loss / val", "time", "left", "test"]  # as shown: status and epoch in one column
# short enough for 80 columns: the test numbers, what a time is per
SHORT = {"roc_auc": "AUC", "accuracy": "acc", "mse": "MSE"}
STEP = {"epoch": "ep", "boosting iteration": "it", "fit": "fit"}


def table(root: Path, pairs: list[tuple[str, str]], templates: dict[str, str]):
    """The rich table of `rows`: the run's name never cut or wrapped (gaussians/baseline and gaussians/bdt must
    stay apart at 80 columns); the other columns fold where the terminal is narrow."""
    from rich import box
    from rich.table import Table

    shown = Table(title=f"{len(pairs)} trainings", box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True)
    for k, column in enumerate(COLUMNS):
        shown.add_column(column, overflow="fold", no_wrap=k > 0 and column != "left")
    for name, status, epoch, *rest in rows(root, pairs, templates):
        state = epoch if status == "running" else f"{STATE[status]} {epoch}".strip()
        shown.add_row(name, state, *rest)
    return shown


STATE = {"pending": "pending", "done": "done", "evaluated": "eval"}


def show(root: Path, pairs: list[tuple[str, str]], templates: dict[str, str], watch: float = 0.0) -> None:
    """Print the table (rich); with `watch`, refresh it every `watch` seconds until every training is done."""
    from rich.console import Console
    from rich.live import Live

    def render():
        return table(root, pairs, templates)

    if not watch:
        Console().print(render())
        return
    with Live(render(), refresh_per_second=4) as live:
        while not all(row[1] == "evaluated" for row in rows(root, pairs, templates)):
            time.sleep(watch)
            live.update(render())
