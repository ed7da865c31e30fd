"""edge.export: quantization-aware training, TFLite and ONNX conversion, parity against the Keras model."""

from edge.config import ExportConfig, Thresholds
from edge.train import legacy_keras  # noqa: F401 - selects Keras 2 before tfmot imports TensorFlow

from .exporter import export
from .parity import breach_summary, print_parity, run_parity

__all__ = ["ExportConfig", "Thresholds", "breach_summary", "export", "print_parity", "run_parity"]
