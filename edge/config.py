"""Every option of `edge train`, `edge export` and `edge parity`, declared once: the command line, the Python API,
`edge demo`, config files and the tests all read their names, defaults and help from here.

No TensorFlow here: `edge --help` and a runtime-only install read these too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from edge.options import option
from edge.runtime import EdgeError

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 96, 384
SCHEDULES = ("cosine", "plateau", "constant")
MAX_AUTO_FLOAT_LAYERS = 3  #: a model that needs more float layers than this has a problem float layers hide
#: how far above the gate's agreement the calibrated int8 models must be for quantization-aware training to be
#: skipped: the issue's 0.985 for a 0.98 gate, so that a model a few images from the gate still gets trained
SKIP_QAT_MARGIN = 0.005


@dataclass
class TrainConfig:
    """`edge train`: validated once, recorded in the manifest and in the run's config.yaml."""

    data_dir: Path = option(help="DATA_DIR/<class>/*.jpg, or DATA_DIR/{train,validation}/<class>/*.", argument=True,
                            path=True)  # fmt: skip
    out: Path | None = option(None, "Run directory \\[default: runs/<timestamp>].", show_default=False, path=True,
                              recorded=False)  # fmt: skip
    model: str = option(
        "mobilenet_v2", "Backbone: mobilenet_v2, efficientnet_lite0 (quantizes best), efficientnet_b0 ... b3."
    )
    alpha: float = option(1.0, "MobileNetV2 width multiplier: 0.35, 0.5, 0.75, 1.0, 1.3 or 1.4.")
    image_size: int | None = option(
        None, "Square input size in pixels, 96-384 \\[default: the backbone's: 224; B1 240, B2 260, B3 300].",
        show_default=False,
    )  # fmt: skip
    weights: str = option("imagenet", "imagenet (Keras's cache or download), none, or a weights file.", path=True)
    epochs: int = option(10, "Phase 1 epochs: frozen backbone, new head.")
    lr: float = option(1e-3, "Phase 1 learning rate.")
    fine_tune_epochs: int = option(10, "Phase 2 epochs: top of the backbone unfrozen (0: skip).")
    #: low, so that ImageNet features are adjusted, not erased
    fine_tune_lr: float = option(1e-4, "Phase 2 learning rate.")
    fine_tune_at: str | None = option(
        None, "First backbone layer unfrozen in phase 2, by name or index \\[default: the backbone's, ~top 30%].",
        show_default=False,
    )  # fmt: skip
    batch_size: int = option(32, "Images per training step.")
    val_split: float = option(0.2, "Validation share per class when there is no validation/ folder.")
    seed: int = option(42, "Seed of the split, initialisation and shuffling.")
    dropout: float = option(0.2, "Dropout before the classification layer.")
    l2: float = option(0.0, "L2 penalty on the classification layer's weights.")
    label_smoothing: float = option(0.0, "Share of each label spread over the other classes (0: one-hot targets).")
    schedule: str = option(
        "cosine", "Learning rate in each phase: cosine (decays to 0), plateau (x0.2 when stuck), constant.",
        choices=SCHEDULES,
    )  # fmt: skip
    augment: bool = option(True, "Random flip, rotation, zoom, shift, contrast, brightness and noise while training.")
    flip: bool = option(True, "Augmentation mirrors images left-right; --no-flip for text, hand signs, digits.")
    patience: int = option(3, "Early-stopping patience (epochs) on validation loss.")
    class_weights: str = option(
        "none", "auto: weigh each class's loss inversely to its image count (imbalanced data); none.",
        choices=("auto", "none"),
    )  # fmt: skip
    mixed_precision: str = option(
        "auto",
        "float16 math with float32 weights: auto (on when a GPU is used), on, off.",
        choices=("auto", "on", "off"),
    )

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.out = Path(self.out) if self.out is not None else None
        self.weights = str(self.weights)
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


@dataclass
class ExportConfig:
    """`edge export`: recorded in the run's export/config.yaml."""

    run_dir: Path = option(help="A run directory made by edge train, e.g. runs/latest.", argument=True, path=True,
                           recorded=False)  # fmt: skip
    int8: bool = option(
        False, "Also write int8 TFLite and ONNX models: weights rounded on data, activation ranges calibrated, then "
        "quantization-aware training unless they already agree with Keras on at least 0.985.", flag=True,
    )  # fmt: skip
    ptq: bool = option(
        False, "Make the int8 models by the converter's post-training quantization only (implies --int8): for a "
        "model that quantization-aware training cannot quantize.", flag=True,
    )  # fmt: skip
    #: about half of the int8 error (benchmarks/results/int8_parity.md)
    round_on_data: bool = option(
        True, "Round each int8 weight up or down to reproduce its layer's float output on the calibration images, "
        "instead of to nearest: about half of the int8 error.",
    )  # fmt: skip
    #: by default skipped when the calibrated models pass the gate with `SKIP_QAT_MARGIN` to spare, which QAT does
    #: not make better there (int8_parity.md)
    qat_always: bool = option(
        False, "Run quantization-aware training even when the calibrated int8 models already agree with Keras on at "
        "least 0.985 of the validation images (by default it is skipped then).",
    )  # fmt: skip
    qat_epochs: int = option(4, "Quantization-aware training epochs.")
    #: low, like phase 2, and decayed to 0: QAT adapts the trained weights to int8, it does not retrain them
    qat_lr: float = option(2e-5, "Quantization-aware training learning rate (cosine decay).")
    #: above 1, QAT also learns the float model's order of the runner-up classes, which decides the close calls
    qat_temperature: float = option(4.0, "Distillation temperature of quantization-aware training (1: match "
                                    "probabilities).")  # fmt: skip
    calibration_images: int = option(256, "Training images used to calibrate int8 ranges.")
    batch_size: int = option(32, "Images per quantization-aware training step.")
    onnx_int8: str = option(
        "tf2onnx", "int8 ONNX: tf2onnx of the int8 TFLite, or onnxruntime's static quantization (agrees less).",
        choices=("tf2onnx", "onnxruntime"),
    )  # fmt: skip
    parity_gate: bool = option(
        True, "Exit 1 when an artifact breaches the default parity thresholds (see edge parity)."
    )
    keep_float: tuple[str, ...] = option(
        (), "Layers the int8 models leave in float (repeat, or comma-separated), as edge parity names them; auto: "
        f"while int8 breaches the gate, the layer adding the most error (up to {MAX_AUTO_FLOAT_LAYERS}). Recorded in "
        "edge.json.",
        cli_type=list[str] | None, show_default=False,
    )  # fmt: skip

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        self.int8 = self.int8 or self.ptq
        if self.qat_epochs < 1:
            raise EdgeError(f"--qat-epochs {self.qat_epochs} must be at least 1 (or use --ptq)")
        if self.qat_lr <= 0:
            raise EdgeError(f"--qat-lr {self.qat_lr} must be positive")
        if self.qat_temperature <= 0:
            raise EdgeError(f"--qat-temperature {self.qat_temperature} must be positive")
        if self.onnx_int8 not in ("onnxruntime", "tf2onnx"):
            raise EdgeError(f"--onnx-int8 {self.onnx_int8!r}: choose onnxruntime or tf2onnx")
        names = (self.keep_float,) if isinstance(self.keep_float, str) else self.keep_float or ()
        self.keep_float = tuple(name for entry in names for name in entry.split(",") if name)
        if self.qat_always and self.ptq:
            raise EdgeError("--qat-always asks for quantization-aware training, which --ptq skips: choose one")
        if self.keep_float and not self.int8:
            raise EdgeError("--keep-float applies to int8 models: add --int8")
        if self.keep_float and self.onnx_int8 != "tf2onnx":
            raise EdgeError("--keep-float needs --onnx-int8 tf2onnx (the int8 ONNX model is then the TFLite one)")
        if "auto" in self.keep_float and len(self.keep_float) > 1:
            raise EdgeError("--keep-float: give either auto or layer names, not both")
        if self.calibration_images < 1 or self.batch_size < 1:
            raise EdgeError("--calibration-images and --batch-size must be at least 1")


@dataclass(frozen=True)
class Thresholds:
    """`edge parity`'s gate: what an artifact must reach, against the Keras model, to pass."""

    max_prob_diff: float = option(1e-4, "Float artifacts: largest |Δ probability| vs Keras.")
    min_float_agreement: float = option(1.0, "Float artifacts: share of Keras's top-1 kept.")
    max_drop: float = option(0.5, "int8 artifacts: largest accuracy drop vs Keras, in points.")
    min_agreement: float = option(0.98, "int8 artifacts: share of Keras's top-1 kept.")

    def breaches(self, precision: str, metrics: dict) -> list[str]:
        """Plain-language failures of one artifact; empty when it passes."""
        if precision == "int8":
            checks = [
                (-metrics["accuracy_delta"] * 100 > self.max_drop,
                 f"accuracy drop {-metrics['accuracy_delta'] * 100:.2f} pt > {self.max_drop:g}"),
                (metrics["agreement"] < self.min_agreement,
                 f"agreement {metrics['agreement']:.4f} < {self.min_agreement:g}"),
            ]  # fmt: skip
        else:
            checks = [
                (metrics["max_prob_diff"] > self.max_prob_diff,
                 f"max |Δp| {metrics['max_prob_diff']:.1e} > {self.max_prob_diff:g}"),
                (metrics["agreement"] < self.min_float_agreement,
                 f"agreement {metrics['agreement']:.4f} < {self.min_float_agreement:g}"),
            ]  # fmt: skip
        return [message for failed, message in checks if failed]
