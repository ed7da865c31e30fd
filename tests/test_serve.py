"""`edge serve`: a real server on a free port, real HTTP clients; what it answers is what `edge infer` prints."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from PIL import Image

from edge.runtime.preprocess import image_files

from .helpers import run_edge, shared_path


@contextmanager
def edge_serve(model, *args):
    """`edge serve MODEL --port 0 ...` in its own process; yields (process, port) once it listens."""
    process = subprocess.Popen([sys.executable, "-m", "edge", "serve", str(model), "--port", "0", *map(str, args)],
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        banner = process.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
        assert match, banner + process.stderr.read()
        yield process, int(match.group(1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def request(port, method, path, body=None, headers=None):
    """(status, JSON payload) of one request on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def stop(process, signum=signal.SIGTERM):
    """Send `signum`; return (exit code, the rest of stderr)."""
    process.send_signal(signum)
    rest = process.stderr.read()
    return process.wait(timeout=30), rest


def infer_json(model, images):
    result = run_edge("infer", model, *images, "--json", "--top-k", "3")
    assert result.returncode == 0, result.stderr
    return {row["image"]: row["top_k"] for row in map(json.loads, result.stdout.splitlines())}


@pytest.mark.slow
@pytest.mark.parametrize("model", ["model_int8.tflite", "model_int8.onnx"])
def test_concurrent_clients_get_exactly_what_edge_infer_gives(sign_digits_run, model):
    model = sign_digits_run / "export" / model
    images = image_files(shared_path("data/sign_digits"))[::50]
    expected = infer_json(model, images)
    assert len({json.dumps(answer) for answer in expected.values()}) > 10  # answers differ: a mix-up would show
    with edge_serve(model, "--workers", "2", "--threads", "1") as (process, port):
        with ThreadPoolExecutor(8) as clients:  # 8 at once, over 2 copies of the model
            answers = list(clients.map(lambda path: request(port, "POST", "/classify", path.read_bytes()), images))
        code, log = stop(process)
    assert [status for status, _ in answers] == [200] * len(images)
    for path, (_, payload) in zip(images, answers, strict=True):
        assert payload["top_k"] == expected[str(path)], path
        assert payload["latency_ms"] > 0
    assert code == 0
    assert len(re.findall(r'"POST /classify" 200 [\d.]+ ms', log)) == len(images)  # one access-log line each
    assert f"stopped after {len(images)} requests" in log


def bomb_png(width=60_000, height=60_000) -> bytes:
    """A tiny PNG whose header claims 3.6 G pixels: decoding it would need gigabytes."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, "PNG")
    png = bytearray(buffer.getvalue())
    header = png[12:16] + struct.pack(">II", width, height) + png[24:29]  # IHDR type, size, depth...
    png[12:33] = header + struct.pack(">I", zlib.crc32(header))
    return bytes(png)


def test_hostile_uploads_get_a_4xx_with_the_reason_and_the_server_keeps_serving(tiny_run):
    model = tiny_run / "export" / "model_int8.tflite"
    photo = next((tiny_run.parent / "samples").rglob("*.jpg")).read_bytes()
    with edge_serve(model, "--max-bytes", 50_000) as (process, port):
        cases = {
            "not an image": request(port, "POST", "/classify", b"GIF89a? not really"),
            "empty": request(port, "POST", "/classify", b""),
            "truncated": request(port, "POST", "/classify", photo[: len(photo) // 3]),
            "bomb": request(port, "POST", "/classify", bomb_png()),
            "too large": request(port, "POST", "/classify", b"\xff" * 60_000),
            "bad top_k": request(port, "POST", "/classify?top_k=99", photo),
            "no length": request(port, "POST", "/classify", iter([photo]), {"Transfer-Encoding": "chunked"}),
            "unknown path": request(port, "GET", "/predict"),
        }
        status, health = request(port, "GET", "/health")
        after = request(port, "POST", "/classify?top_k=1", photo)
        code, _ = stop(process, signal.SIGINT)
    expected = {"not an image": (400, "not an image Pillow can read"), "empty": (400, "empty body"),
                "truncated": (400, "cannot decode image"), "bomb": (400, "decompression bomb"),
                "too large": (413, "--max-bytes 50,000"), "bad top_k": (400, "top_k must be a whole number 1 to 4"),
                "no length": (411, "Content-Length"), "unknown path": (404, "POST /classify")}  # fmt: skip
    for case, (status_code, message) in expected.items():
        assert cases[case][0] == status_code, (case, cases[case])
        assert message in cases[case][1]["error"], (case, cases[case])
    assert status == 200 and health["labels"] == ["circle", "square", "star", "triangle"]
    assert health["input"]["height"] == 96 and health["model"] == "model_int8.tflite"
    assert after[0] == 200 and len(after[1]["top_k"]) == 1
    assert code == 0  # Ctrl-C stops it as cleanly as SIGTERM


def test_a_kept_alive_connection_serves_many_requests_and_an_oversized_body_is_not_read(tiny_run):
    model = tiny_run / "export" / "model.onnx"
    photo = next((tiny_run.parent / "samples").rglob("*.jpg")).read_bytes()
    with edge_serve(model, "--max-bytes", 50_000) as (process, port):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        statuses = []
        for _ in range(3):
            connection.request("POST", "/classify", body=photo)
            response = connection.getresponse()
            statuses.append(response.status)
            response.read()
        connection.request("POST", "/classify", body=b"\0" * 60_000)
        response = connection.getresponse()
        statuses.append(response.status)
        assert response.getheader("Connection") == "close"  # the unread body is not parsed as a next request
        connection.close()
        stop(process)
    assert statuses == [200, 200, 200, 413]


def test_a_port_in_use_is_a_one_line_error(tiny_run):
    model = tiny_run / "export" / "model.onnx"
    with edge_serve(model) as (process, port):
        result = run_edge("serve", model, "--port", port, timeout=60)
        stop(process)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_serve_never_imports_tensorflow(tiny_run):
    script = (
        "import os, re, signal, sys, threading, urllib.request\n"
        "from edge.runtime.serve import serve\n"
        "def ask(banner):  # once listening: one request, then SIGTERM\n"
        "    url = re.search(r'http://[0-9.]+:[0-9]+', banner).group()\n"
        "    threading.Thread(target=lambda: (urllib.request.urlopen(url + '/health').read(),\n"
        "                                     os.kill(os.getpid(), signal.SIGTERM))).start()\n"
        f"serve({str(tiny_run / 'export' / 'model_int8.onnx')!r}, host='127.0.0.1', port=0, workers=1,\n"
        "      threads=1, max_bytes=1000, announce=ask, log=print)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras'))\n"
        "assert not heavy, heavy[:5]\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"GET /health" 200' in result.stdout


def test_a_failure_inside_the_server_is_a_500_with_the_reason_and_it_keeps_serving():
    """Not the client's fault (here a model that raises): a JSON 500 and a log line, then the next request."""
    import threading

    from edge.runtime.serve import Server

    class FailingPool:
        def classify(self, image, top_k):
            raise RuntimeError("the interpreter fell over")

        def health(self):
            return {"status": "ok", "labels": ["a", "b", "c"]}

    log = []
    server = Server(("127.0.0.1", 0), FailingPool(), max_bytes=1000, log=log.append)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        failed = request(port, "POST", "/classify?top_k=1", b"bytes")
        health = request(port, "GET", "/health")
    finally:
        server.shutdown()
        server.server_close()
    assert failed == (500, {"error": "RuntimeError: the interpreter fell over"})
    assert health[0] == 200
    assert "error: RuntimeError: the interpreter fell over" in log and any('" 500 ' in line for line in log)
