"""A run's float Keras model, read back by `edge export`, `edge parity` and `edge eval`."""

from __future__ import annotations

from pathlib import Path

from edge.runtime import EdgeError, Manifest
from edge.runtime.run_dir import RunDir

from .legacy_keras import keras


def open_run(run_dir: Path) -> tuple[Manifest, keras.Model]:
    """The manifest and float Keras model of a run, the model loaded with safe_mode (no code executed)."""
    run = RunDir(run_dir)
    manifest = run.manifest()
    manifest.verify(run.model)
    try:
        model = keras.models.load_model(run.model, compile=False, safe_mode=True)
    except (OSError, ValueError) as error:
        raise EdgeError(f"{run.model}: cannot load the Keras model ({error})") from None
    return manifest, model
