"""Checkpoints in a run's staging directory, so that a killed `edge train` continues where it stopped.

For each phase, Keras's own callbacks do the work: `BackupAndRestore` keeps the model and optimizer state of
the last finished epoch, `CSVLogger` appends every epoch's metrics, `ModelCheckpoint` keeps the best epoch's
weights (lowest validation loss) and `EarlyStopping` ends the phase. A finished phase leaves
`<phase>.done.weights.h5`, so a resumed run skips it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from edge.runtime import EdgeError
from edge.runtime.files import atomic_write_text

from .legacy_keras import keras

CONFIG_FILE = "config.json"


class Checkpoints:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(exist_ok=True)

    def match_config(self, config: dict, resume: bool) -> None:
        """Record the run's options; when resuming, refuse options that differ from the interrupted run's."""
        path = self.root / CONFIG_FILE
        if resume and path.is_file():
            saved = json.loads(path.read_text())
            changed = [
                f"{key} {saved.get(key)!r} -> {value!r}" for key, value in config.items() if saved.get(key) != value
            ]
            if changed:
                raise EdgeError(f"--resume needs the interrupted run's options; changed: {', '.join(changed)}")
        atomic_write_text(path, json.dumps(config, indent=2) + "\n")

    def done(self, phase: str) -> Path:
        return self.root / f"{phase}.done.weights.h5"

    def finish(self, phase: str, model: keras.Model) -> None:
        partial = self.root / f".{phase}.done.weights.h5"
        model.save_weights(partial)
        partial.rename(self.done(phase))

    def history(self, phase: str) -> list[dict]:
        """The phase's epochs so far, across interruptions."""
        path = self.root / f"{phase}.csv"
        if not path.is_file():
            return []
        with path.open(newline="") as file:
            return [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(file)]

    def callbacks(self, phase: str, patience: int) -> list[keras.callbacks.Callback]:
        """Backup, log, best weights and early stopping for one phase, carrying on from an interrupted one."""
        losses = [row["val_loss"] for row in self.history(phase) if "val_loss" in row]
        best = min(losses) if losses else None
        return [
            keras.callbacks.BackupAndRestore(str(self.root / f"{phase}.backup")),
            keras.callbacks.CSVLogger(str(self.root / f"{phase}.csv"), append=True),
            keras.callbacks.ModelCheckpoint(
                str(self.best(phase)),
                monitor="val_loss",
                save_best_only=True,
                save_weights_only=True,
                initial_value_threshold=best,
            ),  # fmt: skip
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, baseline=best),
        ]

    def best(self, phase: str) -> Path:
        return self.root / f"{phase}.best.weights.h5"


def _number(value: str):
    try:
        return int(value)
    except ValueError:
        return float(value)
