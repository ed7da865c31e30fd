"""The run directory: written complete or not at all, and read back by `edge export`."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from edge.runtime import MANIFEST_NAME, EdgeError, Manifest
from edge.runtime.datasets import Dataset, load_dataset

from .legacy_keras import keras

MODEL_FILE = "model.keras"
LABELS_FILE = "labels.txt"


@contextlib.contextmanager
def staged_directory(out: Path, resume: bool = False):
    """Yield a hidden sibling of `out` to write into; rename it to `out` only when the block succeeds.

    An error removes it (unless resuming), so no half-written run directory is left behind. An interruption
    (Ctrl-C, or a kill, which runs no clean-up at all) keeps it with its checkpoints; `resume` writes into it.
    """
    out = Path(out)
    if out.exists():
        raise EdgeError(f"{out} already exists; pass another --out or remove it")
    staging = out.parent / f".{out.name}.partial"
    if resume and not staging.is_dir():
        raise EdgeError(f"nothing to resume: no interrupted run at {staging}")
    if staging.exists() and not resume:
        raise EdgeError(f"{staging} holds an interrupted run of {out}: add --resume to continue it, or remove it")
    staging.mkdir(parents=True, exist_ok=True)
    try:
        yield staging
    except Exception:
        if not resume:  # a failed resume keeps the checkpoints it was given
            shutil.rmtree(staging, ignore_errors=True)
        raise
    os.rename(staging, out)


def point_latest(run_dir: Path) -> None:
    """Make `<runs>/latest` a relative symlink to `run_dir`, replacing the previous one atomically."""
    latest = run_dir.parent / "latest"
    if latest.exists() and not latest.is_symlink():
        return  # a real directory the user called "latest": leave it alone
    temporary = run_dir.parent / f".latest-{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(run_dir.name)
    os.replace(temporary, latest)


def open_run(run_dir: Path) -> tuple[Manifest, keras.Model]:
    """The manifest and float Keras model of a run, the model loaded with safe_mode (no code executed)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EdgeError(f"{run_dir}: no such run directory")
    manifest = Manifest.load(run_dir / MANIFEST_NAME)
    model_path = run_dir / MODEL_FILE
    manifest.verify(model_path)
    try:
        model = keras.models.load_model(model_path, compile=False, safe_mode=True)
    except (OSError, ValueError) as error:
        raise EdgeError(f"{model_path}: cannot load the Keras model ({error})") from None
    return manifest, model


def dataset_of(run_dir: Path, manifest: Manifest, progress=None) -> Dataset:
    """The run's training and validation images, split exactly as during training; the manifest names their
    folder relative to the run directory (older manifests: absolute)."""
    data = manifest.data
    root = Path(run_dir) / data["root"]
    if not root.is_dir():
        raise EdgeError(f"{root}: the run's training data is not there (edge.json names it relative to the run)")
    dataset = load_dataset(
        root, manifest.input_size[0], val_split=data["val_split"], seed=data["seed"], progress=progress
    )
    if dataset.labels != manifest.labels:
        raise EdgeError(f"{root}: its classes changed since training ({', '.join(dataset.labels)})")
    return dataset
