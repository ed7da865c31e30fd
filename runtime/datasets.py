"""Labelled folders: find the images, prepare them once with the runtime's `load_image`, split them.

In the runtime (no TensorFlow) because the device reads labelled folders too: `edge eval` and `edge bench --data`.

Inputs are decoded and resized by `edge.runtime.load_image` (the preprocessing contract) and cached as uint8
arrays, keyed by the files' names, sizes and modification times, so a second run on the same folder starts
at once and sees bit-identical pixels.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import EdgeError, ImageError
from .files import atomic_write_bytes
from .preprocess import IMAGE_EXTENSIONS, RESIZE_POLICY, load_image

SPLIT_FOLDERS = ("train", "validation")
CACHE_VERSION = 2


class DatasetError(EdgeError):
    """A data folder that cannot be trained on."""


@dataclass
class Skipped:
    """An image file that could not be read, and why."""

    path: str
    reason: str
    index: int  #: position in the dataset's file list


@dataclass
class ImageSet:
    """One split: images as the model sees them, their class indices and the files they came from."""

    x: np.ndarray  #: uint8 [N, H, W, 3]
    y: np.ndarray  #: int64 [N]
    paths: list[str]

    def __len__(self) -> int:
        return len(self.y)

    def counts(self, num_classes: int) -> list[int]:
        return np.bincount(self.y, minlength=num_classes).tolist()


@dataclass
class Dataset:
    root: Path
    layout: str  #: "split" (train/ and validation/ folders) or "folders" (a seeded split is made)
    labels: list[str]
    train: ImageSet
    validation: ImageSet
    skipped: list[Skipped] = field(default_factory=list)  #: unreadable images, with the reason
    ignored: list[str] = field(default_factory=list)  #: files that are not images by their extension


def load_dataset(root: Path, image_size: int, *, val_split: float = 0.2, seed: int = 42, progress=None) -> Dataset:
    """Load DATA_DIR/{train,validation}/<class>/* or DATA_DIR/<class>/* (split here, stratified and seeded).

    `progress(done, total)` is called while images are decoded (not when they come from the cache).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such data directory")
    has_splits = all((root / name).is_dir() for name in SPLIT_FOLDERS)
    layout = "split" if has_splits else "folders"
    splits = {name: _class_files(root / name) for name in SPLIT_FOLDERS} if has_splits else {"all": _class_files(root)}
    labels = sorted(next(iter(splits.values()))[0])
    for classes, _ in splits.values():
        if sorted(classes) != labels:
            raise DatasetError(
                f"{root}: the train and validation folders have different classes "
                f"(only in one of them: {', '.join(sorted(set(classes) ^ set(labels)))})"
            )
    if len(labels) < 2:
        raise DatasetError(f"{root}: found {len(labels)} class folder(s); a classifier needs at least 2")

    files = [
        (path, index) for classes, _ in splits.values() for index, label in enumerate(labels) for path in classes[label]
    ]
    x, kept, skipped = _prepare([path for path, _ in files], image_size, progress)
    row_of = {index: row for row, index in enumerate(kept)}

    def image_set(indices) -> ImageSet:
        readable = [index for index in indices if index in row_of]
        return ImageSet(
            x[[row_of[index] for index in readable]],
            np.array([files[index][1] for index in readable], dtype=np.int64),
            [str(files[index][0]) for index in readable],
        )

    ignored = sorted(str(path) for _, others in splits.values() for path in others)
    if has_splits:
        offset = sum(len(paths) for paths in splits["train"][0].values())
        train, validation = image_set(range(offset)), image_set(range(offset, len(files)))
    else:
        y = np.array([files[index][1] for index in kept], dtype=np.int64)
        train_rows, validation_rows = stratified_split(y, val_split, seed)
        train = image_set([kept[row] for row in train_rows])
        validation = image_set([kept[row] for row in validation_rows])
    for label_index, label in enumerate(labels):
        if not np.any(train.y == label_index):
            unreadable = sum(files[entry.index][1] == label_index for entry in skipped)
            raise DatasetError(f"{root}: class '{label}' has no readable training images ({unreadable} unreadable)")
    if len(train) == 0 or len(validation) == 0:
        raise DatasetError(f"{root}: not enough readable images for a training and a validation split")
    return Dataset(root, layout, labels, train, validation, skipped, ignored)


def load_labelled(root: Path, image_size: int, labels: list[str], progress=None) -> tuple[ImageSet, list[Skipped]]:
    """Every image of ROOT/<class>/* (no split), its class indexed as in `labels`: a held-out test set.

    Classes may be a subset of `labels`; a class the model does not know is an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such data directory")
    classes, _ = _class_files(root)
    unknown = sorted(set(classes) - set(labels))
    if unknown:
        raise DatasetError(
            f"{root}: classes the model does not know: {', '.join(unknown)} (it knows {', '.join(labels)})"
        )
    files = [(path, labels.index(label)) for label, paths in sorted(classes.items()) for path in paths]
    x, kept, skipped = _prepare([path for path, _ in files], image_size, progress)
    if not kept:
        raise DatasetError(f"{root}: no readable images")
    y = np.array([files[index][1] for index in kept], dtype=np.int64)
    return ImageSet(x, y, [str(files[index][0]) for index in kept]), skipped


def balanced_class_weights(y: np.ndarray, num_classes: int) -> dict[int, float]:
    """Loss weight per class, total / (classes x count): every class then weighs as much in an epoch as the others.

    Keras's fit multiplies each image's loss by its class's weight; a class with no images gets weight 0.
    """
    counts = np.bincount(y, minlength=num_classes)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = len(y) / (present.sum() * counts[present])
    return {index: float(weight) for index, weight in enumerate(weights)}


def stratified_split(y: np.ndarray, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a seeded split that keeps each class's share: every class with 2+ images is in both."""
    rng = np.random.default_rng(seed)
    train, validation = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_val = min(max(1, round(len(members) * val_split)), len(members) - 1) if len(members) > 1 else 0
        validation.extend(members[:n_val])
        train.extend(members[n_val:])
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(validation, dtype=np.int64))


def _class_files(folder: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    """Image files per class folder (searched recursively), and the non-image files found there."""
    classes, others = {}, []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not _hidden(p)):
        images = []
        for directory, subdirs, names in os.walk(class_dir):
            subdirs[:] = sorted(d for d in subdirs if not _hidden(Path(d)))
            for name in sorted(names):
                path = Path(directory) / name
                if _hidden(path):
                    continue
                (images if path.suffix.lower() in IMAGE_EXTENSIONS else others).append(path)
        classes[class_dir.name] = images
    if not classes:
        raise DatasetError(
            f"{folder}: no class folders (expected {folder}/<class>/*.jpg or {folder}/train/<class>/*.jpg "
            f"and {folder}/validation/<class>/*.jpg)"
        )
    return classes, others


def _hidden(path: Path) -> bool:
    return path.name.startswith(".") or path.name == "__MACOSX"


def _prepare(paths: list[Path], image_size: int, progress) -> tuple[np.ndarray, list[int], list[Skipped]]:
    """Decode `paths` with `load_image`, from the cache when the same files were prepared before.

    Returns the pixels of the readable files, their indices in `paths`, and the unreadable ones.
    """
    cache = _cache_path(paths, image_size)
    try:
        with np.load(cache, allow_pickle=False) as stored:
            kept, reasons = json.loads(str(stored["meta"]))
            return stored["x"], kept, [Skipped(str(paths[index]), reason, index) for index, reason in reasons]
    except (OSError, ValueError, KeyError):  # not cached yet, or an unreadable cache file: prepare again
        pass

    size = (image_size, image_size)
    images, kept, skipped = [], [], []

    def decode(path: Path):
        try:
            return load_image(path, size), None
        except ImageError as error:
            return None, str(error).removeprefix(f"{path}: ")

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        for index, (pixels, error) in enumerate(pool.map(decode, paths)):
            if error is None:
                images.append(pixels)
                kept.append(index)
            else:
                skipped.append(Skipped(str(paths[index]), error, index))
            if progress:
                progress(index + 1, len(paths))
    x = np.stack(images) if images else np.zeros((0, *size, 3), np.uint8)
    meta = json.dumps([kept, [(entry.index, entry.reason) for entry in skipped]])
    buffer = io.BytesIO()
    np.savez(buffer, x=x, meta=np.array(meta))
    atomic_write_bytes(cache, buffer.getvalue())
    return x, kept, skipped


def cache_dir() -> Path:
    """Where prepared arrays are kept: $EDGE_CACHE_DIR, else $XDG_CACHE_HOME/edge, else ~/.cache/edge."""
    if "EDGE_CACHE_DIR" in os.environ:
        return Path(os.environ["EDGE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edge"


def _cache_path(paths: list[Path], image_size: int) -> Path:
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, image_size, RESIZE_POLICY]).encode())
    for path in paths:
        try:
            stat = path.stat()
            digest.update(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:  # unreadable entries are reported by load_image; they still change the key
            digest.update(f"{path}\0unreadable\n".encode())
    return cache_dir() / f"images-{image_size}px-{digest.hexdigest()[:24]}.npz"
