"""edge.train: datasets, backbone registry, model building, two-phase transfer learning, evaluation."""

from .config import TrainConfig
from .trainer import train

__all__ = ["TrainConfig", "train"]
