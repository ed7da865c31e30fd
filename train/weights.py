"""Where backbone weights come from: Keras's ImageNet cache (downloading when online), a file, or nothing.

Offline use: put Keras's own weight file in $KERAS_HOME/models (default ~/.keras/models) or pass a path.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from edge.runtime import EdgeError

from .backbones import Backbone
from .legacy_keras import keras


class WeightsUnavailable(EdgeError):
    """ImageNet weights are neither cached nor downloadable."""


@dataclass(frozen=True)
class Weights:
    path: Path | None  #: None: random initialisation
    source: str  #: what the manifest records: "imagenet:<file>", "none" or the file path


def keras_cache() -> Path:
    """Keras's weight cache; KERAS_HOME is honoured (tf_keras's own get_file would ignore it)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def resolve_weights(spec: str, backbone: Backbone, alpha: float, size: int, say=print) -> Weights:
    """Turn `--weights imagenet|none|PATH` into a file to load.

    For "imagenet": the exact Keras file for this width and input size from the cache, else Keras's download,
    else the 224-px file of the same width from the cache (convolution weights fit any input size).
    """
    if spec == "none":
        return Weights(None, "none")
    if spec != "imagenet":
        path = Path(spec)
        if not path.is_file():
            raise EdgeError(f"--weights {spec}: no such file (use imagenet, none or a weights file)")
        return Weights(path, str(path))

    cache = keras_cache()
    name, url = backbone.imagenet_file(alpha, size)
    if not (cache / name).is_file() and url is not None:
        with contextlib.suppress(Exception):  # any download failure leads to the offline fallbacks below
            keras.utils.get_file(name, url, cache_dir=str(cache.parent), cache_subdir="models")
    if not (cache / name).is_file():
        fallback, _ = backbone.imagenet_file(alpha, 224)
        if fallback == name or not (cache / fallback).is_file():
            width = f" alpha {alpha}" if len(backbone.alphas) > 1 else ""
            where = f" ({backbone.imagenet_hint})" if backbone.imagenet_hint else ""
            also = "" if fallback == name else f" (or {fallback})"
            raise WeightsUnavailable(
                f"ImageNet weights for {backbone.name}{width} are not cached and could not be downloaded: "
                f"place {name}{also}{where} in {cache}, or pass --weights PATH"
            )
        say(f"{name} is not cached and could not be downloaded; using {fallback} from {cache}")
        name = fallback
    return Weights(cache / name, f"imagenet:{name}")
