"""What an install without the `train` extra says when a command needs TensorFlow: one line, no traceback."""

from __future__ import annotations

from contextlib import contextmanager

from edge.runtime import EdgeError

TRAIN_EXTRA_HINT = "{what} needs TensorFlow: install the training extra, e.g. pip install 'edge[train]'"
TRAINING_PACKAGES = {"tensorflow", "tf_keras", "tensorflow_model_optimization", "tf2onnx", "onnx", "yaml"}


@contextmanager
def training_extra(what: str):
    """Turn the import error of a missing training package, inside the block, into the one-line hint."""
    try:
        yield
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] in TRAINING_PACKAGES:
            raise EdgeError(TRAIN_EXTRA_HINT.format(what=what)) from None
        raise
