"""The run directory: every path of a run is named here and nowhere else.

```
runs/<name>/  model.keras  edge.json  labels.txt  config.yaml  metrics.json  history.csv  curves.png
              confusion_matrix.png
              export/  model_float.tflite  model.onnx  model_int8.tflite  model_int8.onnx  parity.json  config.yaml
```

In the runtime (no TensorFlow) because a model file on a device finds its edge.json here, and `edge eval` reads
the data a run names. A run is written into a hidden sibling and renamed into place when complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .datasets import Dataset, load_dataset
from .errors import EdgeError
from .manifest import MANIFEST_NAME, Manifest

CONFIG_FILE = "config.yaml"


@dataclass(frozen=True)
class RunDir:
    root: Path

    MODEL = "model.keras"
    EXPORT = "export"  #: the exported models' folder; artifacts are named relative to the run ("export/...")
    FLOAT_TFLITE, INT8_TFLITE = "model_float.tflite", "model_int8.tflite"
    FLOAT_ONNX, INT8_ONNX = "model.onnx", "model_int8.onnx"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    model = property(lambda self: self.root / self.MODEL)
    manifest_file = property(lambda self: self.root / MANIFEST_NAME)
    labels = property(lambda self: self.root / "labels.txt")
    config = property(lambda self: self.root / CONFIG_FILE)  #: `edge train --config` repeats the run from it
    metrics = property(lambda self: self.root / "metrics.json")
    history = property(lambda self: self.root / "history.csv")
    curves = property(lambda self: self.root / "curves.png")
    confusion = property(lambda self: self.root / "confusion_matrix.png")
    checkpoints = property(lambda self: self.root / "checkpoints")  #: while training only
    export = property(lambda self: self.root / self.EXPORT)
    parity = property(lambda self: self.export / "parity.json")
    export_config = property(lambda self: self.export / CONFIG_FILE)

    def exported(self, name: str) -> str:
        """How the manifest names the exported model file `name`."""
        return f"{self.EXPORT}/{name}"

    def manifest(self) -> Manifest:
        if not self.root.is_dir():
            raise EdgeError(f"{self.root}: no such run directory")
        return Manifest.load(self.manifest_file)

    def dataset(self, manifest: Manifest, progress=None) -> Dataset:
        """The run's training and validation images, split exactly as during training; the manifest names their
        folder relative to the run directory (older manifests: absolute)."""
        data = manifest.data
        root = self.root / data["root"]
        if not root.is_dir():
            raise EdgeError(f"{root}: the run's training data is not there (edge.json names it relative to the run)")
        dataset = load_dataset(
            root, manifest.input_size[0], val_split=data["val_split"], seed=data["seed"], progress=progress
        )
        if dataset.labels != manifest.labels:
            raise EdgeError(f"{root}: its classes changed since training ({', '.join(dataset.labels)})")
        return dataset

    @classmethod
    def manifest_of(cls, model: Path) -> Path | None:
        """The edge.json of a model file: beside it (copied to a device together), or in the run directory above
        its export folder."""
        model = Path(model)
        return next((c for c in (model.parent / MANIFEST_NAME, model.parent.parent / MANIFEST_NAME) if c.is_file()),
                    None)  # fmt: skip

    @contextlib.contextmanager
    def staged(self, resume: bool = False):
        """Yield the RunDir of a hidden sibling to write into; rename it into place only when the block succeeds.

        An error removes it (unless resuming), so no half-written run directory is left behind. An interruption
        (Ctrl-C, or a kill, which runs no clean-up at all) keeps it with its checkpoints; `resume` writes into it.
        """
        if self.root.exists():
            raise EdgeError(f"{self.root} already exists; pass another --out or remove it")
        staging = self.root.parent / f".{self.root.name}.partial"
        if resume and not staging.is_dir():
            raise EdgeError(f"nothing to resume: no interrupted run at {staging}")
        if staging.exists() and not resume:
            raise EdgeError(f"{staging} holds an interrupted run of {self.root}: add --resume to continue it, or "
                            "remove it")  # fmt: skip
        staging.mkdir(parents=True, exist_ok=True)
        try:
            yield RunDir(staging)
        except Exception:
            if not resume:  # a failed resume keeps the checkpoints it was given
                shutil.rmtree(staging, ignore_errors=True)
            raise
        os.rename(staging, self.root)

    def point_latest(self) -> None:
        """Make `<runs>/latest` a relative symlink to this run, replacing the previous one atomically."""
        latest = self.root.parent / "latest"
        if latest.exists() and not latest.is_symlink():
            return  # a real directory the user called "latest": leave it alone
        temporary = self.root.parent / f".latest-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(self.root.name)
        os.replace(temporary, latest)
