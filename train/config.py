"""`TrainConfig`: every option of `edge train`, validated once, recorded in the manifest."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from edge.runtime import EdgeError

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 96, 384
SCHEDULES = ("cosine", "plateau", "constant")


@dataclass
class TrainConfig:
    data_dir: Path  #: DATA_DIR/<class>/* or DATA_DIR/{train,validation}/<class>/*
    out: Path | None = None  #: run directory; None makes runs/<timestamp>
    model: str = "mobilenet_v2"  #: backbone name in the registry
    alpha: float = 1.0  #: width multiplier (MobileNetV2 only)
    image_size: int | None = None  #: square input side in pixels; None: the backbone's default size
    weights: str = "imagenet"  #: "imagenet" (Keras's cache, downloading when missing), "none" or a file path
    epochs: int = 10  #: phase 1: frozen backbone, new head
    lr: float = 1e-3  #: phase 1 learning rate
    fine_tune_epochs: int = 10  #: phase 2: top of the backbone unfrozen; 0 skips the phase
    fine_tune_lr: float = 1e-4  #: phase 2 learning rate: low, so that ImageNet features are adjusted, not erased
    fine_tune_at: str | None = None  #: first backbone layer unfrozen in phase 2 (name or index); None: registry's
    batch_size: int = 32
    val_split: float = 0.2  #: validation fraction per class when DATA_DIR has no validation folder
    seed: int = 42  #: seeds the split, the weights initialisation and the shuffling
    dropout: float = 0.2  #: dropout before the classification layer
    l2: float = 0.0  #: L2 penalty on the classification layer's kernel
    label_smoothing: float = 0.0  #: share of each label's probability spread over the other classes
    schedule: str = (
        "constant"  #: learning rate per phase: "cosine" decay to 0, "plateau" (x0.2 when stuck) or "constant"
    )
    augment: bool = True  #: random flip, rotation, zoom, shift, contrast, brightness and noise while training
    flip: bool = True  #: augmentation mirrors images left to right; off for text, hand signs, digits
    class_weights: str = "none"  #: "auto" weighs each class's loss inversely to its training images; "none"
    patience: int = 3  #: epochs without validation-loss improvement before a phase stops early
    mixed_precision: str = "auto"  #: float16 math with float32 weights: "auto" (on GPU only), "on" or "off"

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.out = Path(self.out) if self.out is not None else None
        checks = [
            (
                self.image_size is None or MIN_IMAGE_SIZE <= self.image_size <= MAX_IMAGE_SIZE,
                f"--image-size {self.image_size} is outside {MIN_IMAGE_SIZE}-{MAX_IMAGE_SIZE}",
            ),
            (0 < self.val_split < 1, f"--val-split {self.val_split} must be between 0 and 1"),
            (self.epochs >= 1, f"--epochs {self.epochs} must be at least 1"),
            (self.fine_tune_epochs >= 0, f"--fine-tune-epochs {self.fine_tune_epochs} must be 0 or more"),
            (self.batch_size >= 1, f"--batch-size {self.batch_size} must be at least 1"),
            (self.lr > 0 and self.fine_tune_lr > 0, "learning rates must be positive"),
            (0 <= self.dropout < 1, f"--dropout {self.dropout} must be in [0, 1)"),
            (self.patience >= 1, f"--patience {self.patience} must be at least 1"),
            (self.class_weights in ("auto", "none"), f"--class-weights {self.class_weights!r}: choose auto or none"),
            (self.l2 >= 0, f"--l2 {self.l2} must be 0 or more"),
            (0 <= self.label_smoothing < 1, f"--label-smoothing {self.label_smoothing} must be in [0, 1)"),
            (self.schedule in SCHEDULES, f"--schedule {self.schedule!r}: choose {', '.join(SCHEDULES)}"),
            (
                self.mixed_precision in ("auto", "on", "off"),
                f"--mixed-precision {self.mixed_precision!r}: auto, on or off",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise EdgeError(message)

    def to_json(self) -> dict:
        return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(self).items()}
