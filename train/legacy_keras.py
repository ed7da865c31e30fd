"""TensorFlow with Keras 2 (`tf_keras`).

tensorflow-model-optimization only supports Keras 2, and TensorFlow picks its Keras when `tf.keras` is first
touched, so TF_USE_LEGACY_KERAS must be set before that. Every module of edge.train and edge.export imports
TensorFlow and Keras from here.
"""

import os

from edge.runtime.native_stderr import native_stderr_without

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF's C++ log below errors (CUDA probing on CPU machines)

STARTUP_CHATTER = ("I0000 ", "W0000 ", "WARNING: All log messages before absl::InitializeLog()")

with native_stderr_without(lambda line: line.startswith(STARTUP_CHATTER)):  # printed before TF reads its log level
    import tensorflow as tf
import tf_keras as keras  # noqa: E402

tf.get_logger().setLevel("ERROR")  # Python-side warnings such as tf.function retracing notices

__all__ = ["keras", "tf"]
