"""TFLite Model Metadata, so that an exported `.tflite` describes itself to MediaPipe Tasks, the TFLite Support
library on Android and edge's own runtime: its labels, its input image, and that its output is probabilities.

Written here from the published schema (`metadata_schema.fbs`, file identifier M001, only fields of parser
version 1.0.0) with the `flatbuffers` package, because no maintained writer installs beside TensorFlow 2.21 on
Python 3.11: tflite-support 0.4.4 needs protobuf < 4, and MediaPipe 1.2's `metadata_writers` import a
`mediapipe.tasks.cc` its wheel lacks. The layout is the official populator's: the metadata flatbuffer in a model
buffer named TFLITE_METADATA, its associated files in a zip appended to the model (which interpreters ignore).
"""

from __future__ import annotations

import io
import json
import zipfile

import flatbuffers
import numpy as np

from edge.runtime.backends import EMBEDDED_PROPERTIES
from edge.train.compat import flatbuffer_utils, tflite_schema

from .tflite import packed

LABELS_FILE = "labels.txt"
#: enum values and union tags of metadata_schema.fbs
RGB, UNKNOWN_FILE, TENSOR_AXIS_LABELS = 1, 0, 2
FEATURE_PROPERTIES, IMAGE_PROPERTIES, NORMALIZATION_OPTIONS = 1, 2, 1


def with_metadata(model: bytes, properties: dict[str, str]) -> bytes:
    """`model` with Model Metadata made from edge's `properties` (`Manifest.properties`), and as associated
    files its labels, one per line, and the `properties` themselves, which edge's runtime reads."""
    labels = json.loads(properties["labels"])
    model_object = flatbuffer_utils.convert_bytearray_to_object(model)
    buffer, entry = tflite_schema.BufferT(), tflite_schema.MetadataT()
    buffer.data = np.frombuffer(_metadata(labels, json.loads(properties["input"]), properties), np.uint8)
    model_object.buffers.append(buffer)
    entry.name, entry.buffer = "TFLITE_METADATA", len(model_object.buffers) - 1
    model_object.metadata = [*(model_object.metadata or []), entry]
    archive = io.BytesIO(packed(model_object))
    with zipfile.ZipFile(archive, "a") as files:
        files.writestr(LABELS_FILE, "".join(f"{label}\n" for label in labels))
        files.writestr(EMBEDDED_PROPERTIES, json.dumps(properties))
    return archive.getvalue()


def _metadata(labels: list[str], contract: dict, properties: dict[str, str]) -> bytes:
    """The ModelMetadata flatbuffer: one subgraph, RGB 0-255 image in, one probability per label out."""
    fb = _Writer()

    def associated(name: str, about: str, kind: int) -> int:
        return fb.table(fb.text(name), fb.text(about), ("int8", kind), None, None)

    def stats(low: float, high: float) -> int:
        return fb.table(fb.floats(high), fb.floats(low))

    # the normalisation is inside the graph: mean 0 and std 1 tell a client to feed raw pixels
    normalization = fb.table(fb.floats(0), fb.floats(1))
    size = f"{contract['height']}x{contract['width']} by {contract['resize']} ({contract['filter']})"
    image = fb.table(
        fb.text("image"),
        fb.text(f"RGB pixels 0-255, the photo resized to {size}"),
        None,
        fb.table(("uint8", IMAGE_PROPERTIES), fb.table(("int8", RGB), None), None),
        fb.vector(fb.table(("uint8", NORMALIZATION_OPTIONS), normalization)),
        stats(0, 255),
        None,
    )
    probability = fb.table(
        fb.text("probability"),
        fb.text(f"the probability of each of the {len(labels)} classes"),
        None,
        fb.table(("uint8", FEATURE_PROPERTIES), fb.table(), None),
        None,
        stats(0, 1),
        fb.vector(associated(LABELS_FILE, "the class of each output", TENSOR_AXIS_LABELS)),
    )
    subgraph = fb.table(None, None, fb.vector(image), fb.vector(probability), *[None] * 6)
    root = fb.table(
        fb.text("edge image classifier"),
        fb.text(f"Classifies a photo into one of {len(labels)} classes: {', '.join(labels)}"),
        fb.text(properties["source_sha256"][:12]),  # the Keras model's: every export of it shares it
        fb.vector(subgraph),
        fb.text(f"edge {properties['edge_version']}"),
        None,
        fb.vector(associated(EMBEDDED_PROPERTIES, "labels and input contract for edge's runtime", UNKNOWN_FILE)),
        fb.text("1.0.0"),
    )
    return fb.finish(root)


class _Writer:
    """Enough of a flatbuffer builder for metadata: fields are written in slot order, None for an absent one, an
    offset for a table, string or vector, or `(kind, value)` for a scalar. Children are written before their
    parent, as flatbuffers requires, by evaluating the arguments first."""

    def __init__(self):
        self.builder = flatbuffers.Builder(1024)

    def text(self, value: str) -> int:
        return self.builder.CreateString(value)

    def floats(self, *values: float) -> int:
        return self.builder.CreateNumpyVector(np.array(values, np.float32))

    def vector(self, *offsets: int) -> int:
        self.builder.StartVector(4, len(offsets), 4)
        for offset in reversed(offsets):
            self.builder.PrependUOffsetTRelative(offset)
        return self.builder.EndVector()

    def table(self, *fields) -> int:
        self.builder.StartObject(len(fields))
        for slot, field in enumerate(fields):
            if isinstance(field, tuple):
                kind, value = field
                getattr(self.builder, {"int8": "PrependInt8Slot", "uint8": "PrependUint8Slot"}[kind])(slot, value, 0)
            elif field is not None:
                self.builder.PrependUOffsetTRelativeSlot(slot, field, 0)
        return self.builder.EndObject()

    def finish(self, root: int) -> bytes:
        self.builder.Finish(root, file_identifier=b"M001")
        return bytes(self.builder.Output())
