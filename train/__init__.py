"""edge.train: datasets, backbone registry, model building, two-phase transfer learning.

TensorFlow is imported only when training is asked for, so that the dataset tools work without it.
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
