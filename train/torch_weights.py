"""Read a PyTorch state dict (legacy `torch.save` format) into numpy arrays, without torch and without
executing the file.

A .pth file is a pickle, and unpickling runs whatever callables the file names. This reader resolves only the
names a state dict of tensors needs — `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` and the
storage types, each mapped to a harmless local stand-in — and refuses any other name with an error.
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.runtime import EdgeError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class UnsafePickle(EdgeError):
    """The file asks for a callable that a state dict of tensors does not need."""


@dataclass(frozen=True)
class _StorageType:
    dtype: type


@dataclass(frozen=True)
class _TensorView:
    """A tensor named by the pickle before its storage's bytes (which follow the pickle) have been read."""

    storage_key: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage_key, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *_):
    return _TensorView(storage_key, storage_offset, tuple(size), tuple(stride))


ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
} | {("torch", name): _StorageType(dtype) for name, dtype in STORAGE_DTYPES.items()}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, storages: dict):
        super().__init__(file)
        self.storages = storages  #: key -> (dtype, number of elements), in the order the pickle names them

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED:
            raise UnsafePickle(f"refusing to load {module}.{name}: only tensors of a state dict may be unpickled")
        return ALLOWED[module, name]

    def persistent_load(self, saved_id):
        kind, storage_type, key, _location, numel, *_ = saved_id
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise UnsafePickle(f"refusing to load a persistent object of kind {kind!r}")
        self.storages.setdefault(key, (storage_type.dtype, numel))
        return key


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a legacy (non-zip) `torch.save` state dict, by name."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            if _safe_load(file) != LEGACY_MAGIC:
                raise EdgeError(f"{path}: not a legacy PyTorch state-dict file")
            _safe_load(file), _safe_load(file)  # protocol version, system info
            storages: dict = {}
            state = _RestrictedUnpickler(file, storages).load()
            keys = _safe_load(file)
            data = {key: _read_storage(file, *storages[key]) for key in keys}
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as error:
        raise EdgeError(f"{path}: not a readable PyTorch state dict ({error})") from None
    return {name: _materialise(view, data) for name, view in state.items()}


def _safe_load(file):
    """The header pickles hold plain numbers and dicts: no callable at all is allowed."""
    return _RestrictedUnpickler(file, {}).load()


def _read_storage(file, dtype, numel: int) -> np.ndarray:
    (count,) = np.frombuffer(file.read(8), "<i8")
    if count != numel:
        raise ValueError(f"storage holds {count} elements, the pickle said {numel}")
    return np.frombuffer(file.read(count * np.dtype(dtype).itemsize), dtype)


def _materialise(view: _TensorView, storages: dict[str, np.ndarray]) -> np.ndarray:
    storage = storages[view.storage_key]
    strides = tuple(step * storage.itemsize for step in view.stride)
    return np.lib.stride_tricks.as_strided(storage[view.offset :], view.shape, strides).copy()
