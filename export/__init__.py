"""edge.export: quantization-aware training, TFLite conversion, and measurement of every artifact."""

from edge.train import legacy_keras  # noqa: F401 - selects Keras 2 before tfmot imports TensorFlow

from .config import ExportConfig
from .exporter import export

__all__ = ["ExportConfig", "export"]
