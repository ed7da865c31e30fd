"""`edge.json`: the one file the runtime reads to know labels, input contract and artifacts of a model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge import __version__

from .errors import ManifestError
from .files import atomic_write_text, sha256_file
from .preprocess import RESIZE_POLICY

FORMAT_VERSION = 1
MANIFEST_NAME = "edge.json"


@dataclass
class Artifact:
    """One model file of a run and what was measured on it."""

    file: str  #: path relative to the run directory, e.g. "export/model_int8.tflite"
    format: str  #: "keras", "tflite" or "onnx"
    precision: str  #: "float32" or "int8"
    method: str  #: how it was made: "trained", "float", "calibrated", "qat" or "ptq" (int8 ONNX: "+tf2onnx" etc.)
    sha256: str
    metrics: dict[str, Any] = field(default_factory=dict)
    float_layers: list[str] = field(default_factory=list)  #: layers an int8 model keeps in float (--keep-float)


@dataclass
class Manifest:
    """Everything needed to run a model: labels, input contract, backbone and the artifacts made so far."""

    labels: list[str]
    input: dict[str, Any]  #: height, width, channels, dtype and the resize policy of `load_image`
    backbone: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    format_version: int = FORMAT_VERSION

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self.input["height"]), int(self.input["width"])

    @classmethod
    def load(cls, path: Path) -> Manifest:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ManifestError(f"{path}: no such manifest") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ManifestError(f"{path}: not a readable edge.json ({error})") from None
        if not isinstance(raw, dict) or raw.get("format_version") != FORMAT_VERSION:
            version = raw.get("format_version") if isinstance(raw, dict) else None
            raise ManifestError(f"{path}: manifest format version {version!r} is not {FORMAT_VERSION}")
        try:
            artifacts = [Artifact(**entry) for entry in raw.pop("artifacts", [])]
            manifest = cls(**raw, artifacts=artifacts)
        except TypeError as error:
            raise ManifestError(f"{path}: malformed manifest ({error})") from None
        return manifest._checked(path)

    @classmethod
    def from_properties(cls, properties: dict[str, str], model: Path) -> Manifest:
        """The manifest `model` carries in its file (`properties`), for a model that travels without edge.json."""
        if "labels" not in properties:
            raise ManifestError(f"{model}: no {MANIFEST_NAME} beside the model or in its run directory, and no "
                                "labels in the model file")  # fmt: skip
        try:
            return cls(json.loads(properties["labels"]), json.loads(properties["input"]))._checked(model)
        except (KeyError, TypeError, json.JSONDecodeError) as error:
            raise ManifestError(f"{model}: malformed edge metadata in the model file ({error})") from None

    def properties(self, source_sha256: str) -> dict[str, str]:
        """What a model file carries so that it runs without edge.json, as plain strings (ONNX `metadata_props`):
        the labels and input contract, which edge made it and from which Keras model."""
        return {"labels": json.dumps(self.labels), "input": json.dumps(self.input), "edge_version": __version__,
                "source_sha256": source_sha256}  # fmt: skip

    def _checked(self, origin: Path) -> Manifest:
        """This manifest, if this runtime can run what it describes."""
        try:
            height, width = self.input_size
        except (TypeError, KeyError, ValueError) as error:
            raise ManifestError(f"{origin}: malformed manifest ({error})") from None
        policy = {key: self.input.get(key) for key in RESIZE_POLICY}
        if policy != RESIZE_POLICY:
            raise ManifestError(f"{origin}: made with resize policy {policy}, this runtime implements {RESIZE_POLICY}")
        if not self.labels or height < 1 or width < 1:
            raise ManifestError(f"{origin}: manifest has no labels or no input size")
        return self

    def save(self, path: Path) -> None:
        atomic_write_text(Path(path), json.dumps(asdict(self), indent=2) + "\n")

    def artifact(self, file: str) -> Artifact | None:
        return next((artifact for artifact in self.artifacts if artifact.file == file), None)

    def record(self, artifact: Artifact) -> None:
        """Add `artifact`, replacing an earlier entry for the same file."""
        self.artifacts = [known for known in self.artifacts if known.file != artifact.file] + [artifact]

    def verify(self, model: Path) -> Artifact | None:
        """Return the artifact entry of `model`, refusing a file whose bytes differ from what was recorded.

        A file is matched by its hash first (so a renamed copy is still recognised), then by its name; a
        file the manifest does not list returns None.
        """
        model = Path(model)
        digest = sha256_file(model)
        by_hash = next((artifact for artifact in self.artifacts if artifact.sha256 == digest), None)
        if by_hash:
            return by_hash
        by_name = [artifact for artifact in self.artifacts if Path(artifact.file).name == model.name]
        if by_name:
            raise ManifestError(
                f"{model}: sha256 does not match {by_name[0].file} in {MANIFEST_NAME} "
                "(the file changed after export; re-export it)"
            )
        return None
