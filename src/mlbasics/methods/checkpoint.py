"""Epoch checkpoints of a training job: what a killed job resumes from.

How often: at the end of an epoch once MLBASICS_CHECKPOINT_EVERY_S seconds (default 10) have passed since the last
save, never at the last epoch (the model itself is saved then); 0 saves every epoch. Saving a small model with its
optimizer costs ~30-70 ms, which every epoch made most of a small dataset's training (150 iris epochs: 3 of 4 s).
A kill loses at most that interval of training; the resumed run ends with the same bytes either way, since every
epoch's shuffling and dropout are seeded by the epoch number. A runtime setting, not a param: it changes no
result, so changing it reruns nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from mlbasics.core.errors import ParamsError
from mlbasics.core.files import read_json
from mlbasics.methods.mlp import register_custom_layers

EVERY_ENV = "MLBASICS_CHECKPOINT_EVERY_S"


def checkpoint_key(arrays: dict[str, np.ndarray], spec: dict, seed: int) -> str:
    """What a checkpoint belongs to: the data, the model spec and the seed."""
    digest = hashlib.sha256(json.dumps({"spec": spec, "seed": seed}, sort_keys=True).encode())
    for key in sorted(arrays):
        digest.update(memoryview(np.ascontiguousarray(arrays[key])).cast("B"))  # no copy of the data
    return digest.hexdigest()


class Checkpoint:
    """Per-epoch state, one folder per epoch (`epoch-000007/`): the model with its optimizer (state.keras),
    the best weights so far (best.npz, for early stopping) and a JSON record (epoch, history, early-stopping
    counters, fingerprint).

    An epoch is one atomic unit: it is written into a hidden temporary folder and renamed into place, which
    commits it; only then are older epochs removed. A job killed at any point of the save thus leaves either
    the previous epoch or this one complete - never a model of one epoch beside the record of another."""

    SAVE_STEPS = ("begin", "model", "best", "record", "commit", "prune")  # `reached` is called after each

    def __init__(self, folder: str | Path | None, fingerprint: str, every_s: float | None = None):
        self.folder = Path(folder) if folder else None
        self.fingerprint = fingerprint
        self.every_s = save_interval() if every_s is None else every_s
        self._saved = time.monotonic()

    def due(self, last_epoch: bool) -> bool:
        """Whether the epoch just trained is saved (see the module's docstring)."""
        if self.folder is None:
            return False
        if self.every_s <= 0:
            return True
        return not last_epoch and time.monotonic() - self._saved >= self.every_s

    @staticmethod
    def epochs(folder: str | Path) -> list[Path]:
        """The committed epoch folders, oldest first."""
        folder = Path(folder)
        if not folder.is_dir():
            return []
        return sorted(
            p for p in folder.iterdir() if p.is_dir() and p.name.startswith("epoch-") and p.name[6:].isdigit()
        )

    @classmethod
    def last_epoch(cls, folder: str | Path) -> int:
        """The last committed epoch in a checkpoint folder (0: none); cheap, no TensorFlow."""
        committed = cls.epochs(folder)
        return int(committed[-1].name[6:]) if committed else 0

    def load(self):
        """(model, record, best weights or None) of the last committed epoch, or None when there is nothing
        to resume."""
        committed = self.epochs(self.folder) if self.folder else []
        if not committed:
            return None
        import keras

        last = committed[-1]
        record = read_json(last / "state.json")
        if record.get("fingerprint") != self.fingerprint:
            return None  # a checkpoint of another configuration or other data: start over
        register_custom_layers()
        model = keras.saving.load_model(last / "state.keras")
        best = None
        if (last / "best.npz").is_file():
            with np.load(last / "best.npz", allow_pickle=False) as npz:
                best = [npz[f"arr_{i}"] for i in range(len(npz.files))]
        return model, record, best

    def reached(self, step: str, epoch: int) -> None:
        """Called after each step of the save sequence (SAVE_STEPS); a seam for the fault-injection test."""

    def save(self, model, record: dict, best_weights: list | None) -> None:
        if self.folder is None:
            return
        epoch = record["epoch"]
        final = self.folder / f"epoch-{epoch:06d}"
        tmp = self.folder / f".epoch-{epoch:06d}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)  # left by a job killed while writing it
        tmp.mkdir(parents=True)
        self.reached("begin", epoch)
        model.save(tmp / "state.keras")
        self.reached("model", epoch)
        if best_weights is not None:
            with open(tmp / "best.npz", "wb") as fh:
                np.savez(fh, *best_weights)
        self.reached("best", epoch)
        (tmp / "state.json").write_text(json.dumps({**record, "fingerprint": self.fingerprint}, sort_keys=True))
        self.reached("record", epoch)
        shutil.rmtree(final, ignore_errors=True)  # only there if an earlier run was killed after committing it
        os.rename(tmp, final)  # the commit: one rename of the whole epoch
        self.reached("commit", epoch)
        for stale in self.folder.iterdir():
            if stale != final:
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        self.reached("prune", epoch)
        self._saved = time.monotonic()

    def clear(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def save_interval() -> float:
    """Seconds between checkpoints, from MLBASICS_CHECKPOINT_EVERY_S (0: every epoch)."""
    raw = os.environ.get(EVERY_ENV, "10")
    try:
        every = float(raw)
    except ValueError:
        every = -1.0
    if not every >= 0:
        raise ParamsError(f"{EVERY_ENV}={raw!r}: give seconds between checkpoints, 0 or more (0: every epoch)")
    return every


def checkpoint_folder(model_path: str | Path) -> Path:
    """Where a training job keeps its per-epoch state: next to the model, removed once the job is done."""
    return Path(model_path).parent / "checkpoint"
