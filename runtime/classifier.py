"""`Classifier`: a model file plus its manifest, turning images into labelled scores."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .backends import open_backend
from .errors import ImageError, ManifestError, ModelError
from .manifest import Manifest
from .preprocess import ImageSource, load_image
from .run_dir import RunDir

if TYPE_CHECKING:
    from concurrent.futures import Future


@dataclass(frozen=True)
class Prediction:
    label: str
    index: int
    score: float  #: probability in 0..1


class Classifier:
    """Run an exported model on images exactly as it was trained: same decode, same resize, raw pixels in.

    >>> classifier = Classifier("runs/latest/export/model_int8.tflite")
    >>> classifier.predict("photo.jpg", top_k=3)[0].label
    """

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        threads: int | None = None,
        manifest: Manifest | None = None,
        verify: bool = True,
    ):
        self.model_path = Path(model)
        if not self.model_path.is_file():
            raise ModelError(f"{self.model_path}: no such model file")
        if manifest is None and (manifest_file := RunDir.manifest_of(self.model_path)):
            manifest = Manifest.load(manifest_file)
        if manifest and verify:  # before the file reaches native code
            manifest.verify(self.model_path)
        self.backend = open_backend(self.model_path, threads)
        self.manifest = manifest or Manifest.from_properties(self.backend.properties, self.model_path)
        self.labels = self.manifest.labels
        self.input_size = self.manifest.input_size
        expected = (1, *self.input_size, 3)
        if self.backend.input_shape != expected:
            raise ManifestError(
                f"{self.model_path}: model input {self.backend.input_shape} does not match the manifest's {expected}"
            )
        if self.backend.num_classes != len(self.labels):
            raise ManifestError(
                f"{self.model_path}: model has {self.backend.num_classes} outputs but the manifest "
                f"lists {len(self.labels)} labels"
            )

    def probabilities(self, image: ImageSource) -> np.ndarray:
        """Class probabilities (float32, one per label) for a path, PIL image or uint8 array."""
        return self.backend.run(load_image(image, self.input_size))

    def probabilities_batch(self, images: np.ndarray | Sequence[ImageSource]) -> np.ndarray:
        """float32[N, labels] for `uint8[N, H, W, 3]` already at the model's size, or for any sequence of images."""
        return self.backend.run_batch(np.stack([load_image(image, self.input_size) for image in images]))

    def predict(self, image: ImageSource, top_k: int = 3) -> list[Prediction]:
        """The `top_k` most probable labels, best first."""
        return self._top(self.probabilities(image), top_k)

    def predict_batch(self, images: np.ndarray | Sequence[ImageSource], top_k: int = 3) -> list[list[Prediction]]:
        """`predict` for many images at once (see `probabilities_batch`)."""
        return [self._top(scores, top_k) for scores in self.probabilities_batch(images)]

    def predict_each(
        self, images: Iterable[ImageSource], top_k: int = 3, *, workers: int | None = None
    ) -> Iterator[list[Prediction] | ImageError]:
        """`predict` for each image in order, decoding the next ones in `workers` threads (default: all cores).

        Decoding a camera photo costs many times an invoke, and Pillow releases the GIL while it decodes, so
        a folder of large photos goes through up to `workers` times faster. An image that cannot be read
        yields its ImageError in place of predictions: one bad file does not end the stream.
        """
        from concurrent.futures import ThreadPoolExecutor  # here, not at the top: 4 ms of every `edge` start

        workers = workers or os.cpu_count() or 1
        with ThreadPoolExecutor(workers) as pool:
            pending: deque[Future] = deque()
            for image in images:
                pending.append(pool.submit(load_image, image, self.input_size))
                if len(pending) > 2 * workers:  # bounded look-ahead: memory stays flat on any number of files
                    yield self._predict_decoded(pending.popleft(), top_k)
            while pending:
                yield self._predict_decoded(pending.popleft(), top_k)

    def _predict_decoded(self, decoded: Future, top_k: int) -> list[Prediction] | ImageError:
        try:
            return self._top(self.backend.run(decoded.result()), top_k)
        except ImageError as error:
            return error

    def _top(self, scores: np.ndarray, top_k: int) -> list[Prediction]:
        best = np.argsort(-scores, kind="stable")[:top_k]
        return [Prediction(self.labels[i], int(i), float(scores[i])) for i in best]
