"""edge.runtime: what runs on the device. Imports numpy, Pillow and an inference engine, never TensorFlow."""

from .classifier import Classifier, Prediction
from .errors import EdgeError, ImageError, ManifestError, ModelError
from .manifest import MANIFEST_NAME, Artifact, Manifest
from .preprocess import load_image

__all__ = [
    "MANIFEST_NAME",
    "Artifact",
    "Classifier",
    "EdgeError",
    "ImageError",
    "Manifest",
    "ManifestError",
    "ModelError",
    "Prediction",
    "load_image",
]
