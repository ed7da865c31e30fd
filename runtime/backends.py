"""Inference backends: run one preprocessed image through a model file and return probabilities."""

from __future__ import annotations

import functools
import json
import os
import platform
import zipfile
from pathlib import Path

import numpy as np

from .errors import ModelError
from .native_stderr import native_stderr_without

#: Bytes 4-8 of every TFLite flatbuffer; checked so that a wrong file is refused before native code sees it.
TFLITE_IDENTIFIER = b"TFL3"
#: edge's properties (`Manifest.properties`) among the files a TFLite model's metadata appends to it as a zip
EMBEDDED_PROPERTIES = "edge_properties.json"


class LiteRTBackend:
    """LiteRT (`ai-edge-litert`) interpreter, allocated once and reused for every image."""

    def __init__(self, path: Path, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        with open(path, "rb") as file:
            header = file.read(8)
        if header[4:8] != TFLITE_IDENTIFIER:
            raise ModelError(f"{path}: not a TFLite model (no {TFLITE_IDENTIFIER.decode()} identifier)")
        try:
            with native_stderr_without(lambda line: line.startswith("INFO: ")):  # "Created XNNPACK delegate"
                self._interpreter = Interpreter(model_path=str(path), num_threads=threads or os.cpu_count())
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ModelError(f"{path}: LiteRT cannot load this model ({error})") from None
        (self._input,) = self._interpreter.get_input_details()
        (self._output,) = self._interpreter.get_output_details()
        self.input_shape = tuple(int(d) for d in self._input["shape"])
        self.num_classes = int(self._output["shape"][-1])
        self.input_dtype = np.dtype(self._input["dtype"])
        self.properties = embedded_properties(path)

    def run(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities for one `uint8[H, W, 3]` image, dequantized to float32."""
        self._interpreter.set_tensor(self._input["index"], to_input(pixels, self._input)[None])
        self._interpreter.invoke()
        return dequantize(self._interpreter.get_tensor(self._output["index"])[0], self._output)

    def run_batch(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities for `uint8[N, H, W, 3]`: one invoke per image, as the model is built for batch 1."""
        return np.stack([self.run(image) for image in pixels])


def embedded_properties(path: Path) -> dict[str, str]:
    """The properties edge packs into a TFLite model beside its Model Metadata; none in another model."""
    try:
        with zipfile.ZipFile(path) as files:
            properties = json.loads(files.read(EMBEDDED_PROPERTIES))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return properties if isinstance(properties, dict) else {}


def needs_exact_int8_kernels(machine: str, flags: frozenset[str] | None) -> bool:
    """Whether onnxruntime must be told to use its exact int8 kernels (`session.x64quantprecision`) here.

    On x86 without VNNI (AVX2, or AVX-512F alone) its default uint8 x int8 kernels sum pairs of products in
    saturating 16 bits, which can wreck an int8 model's answers; the exact ones cost about 2x. With VNNI
    (`avx512_vnni`, `avx_vnni`) the default kernels cannot saturate and the option only slows them down (int8
    at 0.6x the float latency instead of 1.27x, benchmarks/results/int8_parity.md); ARM ignores it. An x86 CPU
    whose flags cannot be read (`flags` None) gets the exact kernels: slower, never wrong.
    """
    if machine.lower() not in {"x86_64", "amd64", "i386", "i686", "x86"}:
        return False
    return flags is None or not flags & {"avx512_vnni", "avx_vnni"}


@functools.cache
def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags from Linux's /proc/cpuinfo, or None where there is none to read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return None


class OnnxRuntimeBackend:
    """onnxruntime session on the CPU, created once; the model takes uint8 pixels and returns probabilities."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: onnxruntime's warnings are about graph optimisations
        if needs_exact_int8_kernels(platform.machine(), cpu_flags()):
            options.add_session_config_entry("session.x64quantprecision", "1")
        try:
            self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types for bad files
            raise ModelError(f"{path}: onnxruntime cannot load this model ({str(error).splitlines()[0]})") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{path}: an image model has one input; this one has {len(inputs)}")
        (model_input,) = inputs
        self._input_name = model_input.name
        self.input_shape = tuple(d if isinstance(d, int) else 1 for d in model_input.shape)
        self.input_dtype = np.dtype(_ONNX_TYPES.get(model_input.type, np.float32))
        self.num_classes = int(self._session.get_outputs()[0].shape[-1])
        #: the model's `metadata_props`: edge writes its labels and input contract there
        self.properties = dict(self._session.get_modelmeta().custom_metadata_map)

    def run(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities for one `uint8[H, W, 3]` image."""
        return self.run_batch(pixels[None])[0]

    def run_batch(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities for `uint8[N, H, W, 3]` in one call: the ONNX models have a batch dimension."""
        (probabilities,) = self._session.run(None, {self._input_name: pixels.astype(self.input_dtype, copy=False)})
        return probabilities.astype(np.float32, copy=False)


_ONNX_TYPES = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32}
BACKENDS = {".tflite": LiteRTBackend, ".onnx": OnnxRuntimeBackend}


def open_backend(path: Path, threads: int | None = None) -> LiteRTBackend | OnnxRuntimeBackend:
    """Open `path` with the backend its file type calls for."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: model file is empty")
    if path.suffix in BACKENDS:
        return BACKENDS[path.suffix](path, threads)
    hint = "; export it first: edge export RUN_DIR" if path.suffix in (".keras", ".h5") else ""
    raise ModelError(f"{path}: unsupported model type {path.suffix!r} (expected .tflite or .onnx){hint}")


def to_input(pixels: np.ndarray, detail: dict) -> np.ndarray:
    """Raw pixels as the model's input type: float 0-255, or quantized integers.

    An edge int8 model's input quantization is scale 1, zero point 0 on uint8, i.e. raw pixels; any other
    quantization (a model made elsewhere) is honoured rather than assumed.
    """
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return pixels.astype(dtype)
    scale, zero_point = detail["quantization"]
    if dtype == np.uint8 and (scale, zero_point) == (1.0, 0):
        return pixels
    info = np.iinfo(dtype)
    return np.clip(np.round(pixels / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    if values.dtype.kind == "f":
        return values.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)
