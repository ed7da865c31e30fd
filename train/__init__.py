"""edge.train: what needs TensorFlow to train: backbone registry, model building, two-phase transfer learning.

TensorFlow is imported only when training is asked for: `edge.train.TrainConfig` (declared in edge.config) reads
without it. The labelled folders it trains on are edge.runtime.datasets, which the device reads too.
"""

__all__ = ["TrainConfig", "train"]


def __getattr__(name: str):
    if name == "train":
        from .trainer import train

        return train
    if name == "TrainConfig":
        from edge.config import TrainConfig

        return TrainConfig
    raise AttributeError(f"module 'edge.train' has no attribute {name!r}")
