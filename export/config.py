"""`ExportConfig`: every option of `edge export`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.runtime import EdgeError

MAX_AUTO_FLOAT_LAYERS = 3  #: a model that needs more float layers than this has a problem float layers hide
#: how far above the gate's agreement the calibrated int8 models must be for quantization-aware training to be
#: skipped: the issue's 0.985 for a 0.98 gate, so that a model a few images from the gate still gets trained
SKIP_QAT_MARGIN = 0.005


@dataclass
class ExportConfig:
    run_dir: Path  #: a run directory made by `edge train`
    int8: bool = False  #: also write an int8 TFLite model
    #: make the int8 model by the converter's post-training quantization only (any model, even one that
    #: quantization-aware training cannot quantize)
    ptq: bool = False
    #: round each int8 weight up or down to reproduce its layer's float output on the calibration images (False:
    #: to nearest, as the converter does); about half of the int8 error (benchmarks/results/int8_parity.md)
    round_on_data: bool = True
    #: quantization-aware training even when the int8 models calibrated from the rounded weights already pass
    #: the gate with `SKIP_QAT_MARGIN` to spare (which it does not make better there: int8_parity.md)
    qat_always: bool = False
    qat_epochs: int = 4  #: quantization-aware fine-tuning epochs on the training split
    #: low, like phase 2, and decayed to 0: QAT adapts the trained weights to int8, it does not retrain them
    qat_lr: float = 2e-5
    #: distillation temperature: above 1, QAT also learns the float model's order of the runner-up classes,
    #: which decides the close calls (benchmarks/results/int8_parity.md)
    qat_temperature: float = 4.0
    calibration_images: int = 256  #: training images that set int8 activation ranges (PTQ and QAT start)
    batch_size: int = 32
    #: int8 ONNX as "tf2onnx" of the int8 TFLite (its weights and ranges, so both formats answer alike), or by
    #: "onnxruntime" static quantization of the QAT-tuned float weights (re-calibrated: agrees less)
    onnx_int8: str = "tf2onnx"
    parity_gate: bool = True  #: fail the export when an artifact breaches the default parity thresholds
    #: layers the int8 models leave in float (each with the BatchNorm and activation fused into it), or "auto":
    #: while the int8 TFLite breaches the gate, the layer adding the most error, up to `MAX_AUTO_FLOAT_LAYERS`
    keep_float: tuple[str, ...] = ()

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
        self.keep_float = tuple(name for names in self.keep_float for name in names.split(",") if name)
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
