"""`edge serve`: classify images POSTed over HTTP, on the device, without TensorFlow.

The standard library's threading HTTP server, not an ASGI stack: a request is one decode and one invoke of a
few milliseconds, which a thread per connection serves as fast as the model allows (benchmarks/serve.py), and
a Pi's runtime install stays numpy, Pillow and the inference engine. Decoding runs in the request's thread
(Pillow releases the GIL); the model runs in one of `workers` Classifiers lent out one request at a time.
"""

from __future__ import annotations

import json
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .classifier import Classifier
from .errors import EdgeError, ImageError
from .preprocess import load_image

#: Seconds a client may stay silent mid-request (or idle on a kept-alive connection) before it is dropped.
CLIENT_TIMEOUT_S = 30


class ClassifierPool:
    """`workers` Classifiers of one model; each request borrows one, so no two threads share an interpreter."""

    def __init__(self, model: Path, *, workers: int, threads: int | None, verify: bool = True):
        self._idle: queue.SimpleQueue[Classifier] = queue.SimpleQueue()
        for _ in range(workers):
            self._idle.put(Classifier(model, threads=threads, verify=verify))
        self.model, self.workers = Path(model), workers
        self.classifier = self._idle.get()  # any one of them, for the model's labels and input contract
        self._idle.put(self.classifier)

    @contextmanager
    def _borrow(self):
        classifier = self._idle.get()
        try:
            yield classifier
        finally:
            self._idle.put(classifier)

    def classify(self, image: bytes, top_k: int) -> dict:
        """What `edge infer --json` prints for an image file with these bytes, plus the time it took."""
        started = time.perf_counter()
        pixels = load_image(image, self.classifier.input_size)  # in this thread: decoding does not hold a model
        with self._borrow() as classifier:
            predictions = classifier.predict(pixels, top_k)
        latency_ms = 1e3 * (time.perf_counter() - started)
        return {"top_k": [asdict(p) for p in predictions], "latency_ms": round(latency_ms, 3)}

    def health(self) -> dict:
        manifest = self.classifier.manifest
        return {"status": "ok", "model": self.model.name, "format": self.model.suffix.lstrip("."),
                "labels": manifest.labels, "input": manifest.input, "workers": self.workers}  # fmt: skip


class Server(ThreadingHTTPServer):
    """One thread per connection (daemon threads: an idle kept-alive client never holds up a stop)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], pool: ClassifierPool, *, max_bytes: int, log):
        self.pool, self.max_bytes, self._log = pool, max_bytes, log
        self.health = pool.health()
        self.answered = 0
        self._lock = threading.Lock()
        super().__init__(address, _Handler)

    def log(self, line: str, *, answered: bool = False) -> None:
        with self._lock:
            self.answered += answered
            self._log(line)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client sending many images does not reconnect for each
    disable_nagle_algorithm = True  # else a small answer waits for the client's delayed ACK: +40 ms each
    timeout = CLIENT_TIMEOUT_S
    server: Server

    def parse_request(self) -> bool:
        self._started = time.perf_counter()  # the request line has arrived: a kept-alive wait is not its time
        return super().parse_request()

    def do_GET(self):
        if urlsplit(self.path).path == "/health":
            self._reply(HTTPStatus.OK, self.server.health)
        else:
            self._not_found()

    def do_POST(self):
        url = urlsplit(self.path)
        if url.path != "/classify":
            self._drain_or_close()
            return self._not_found()
        try:
            top_k = self._top_k(url.query)
            body = self._body()
            self._reply(HTTPStatus.OK, self.server.pool.classify(body, top_k))
        except _Refused as refused:
            self._reply(refused.status, {"error": str(refused)})
        except ImageError as error:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(error)})
        except Exception as error:  # a bug, not the client's fault: say so, and keep serving
            self.server.log(f"error: {type(error).__name__}: {error}")
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(error).__name__}: {error}"})

    def _top_k(self, query: str) -> int:
        values = parse_qs(query).get("top_k", ["3"])
        labels = len(self.server.health["labels"])
        try:
            top_k = int(values[-1])
        except ValueError:
            top_k = 0
        if not 1 <= top_k <= labels:
            self._drain_or_close()
            raise _Refused(HTTPStatus.BAD_REQUEST, f"top_k must be a whole number 1 to {labels}, not {values[-1]!r}")
        return top_k

    def _body(self) -> bytes:
        """The request's body, refused before it is read when it is missing, chunked or over --max-bytes."""
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            raise _Refused(HTTPStatus.LENGTH_REQUIRED, "send the image as the body, with a Content-Length header")
        if not length.isdigit():
            self.close_connection = True
            raise _Refused(HTTPStatus.BAD_REQUEST, f"Content-Length {length!r} is not a number of bytes")
        if int(length) > self.server.max_bytes:
            self.close_connection = True  # the unread body would otherwise be taken for the next request
            raise _Refused(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{int(length):,} bytes is over this server's --max-bytes "
                f"{self.server.max_bytes:,}",
            )  # fmt: skip
        body = self.rfile.read(int(length))
        if len(body) < int(length):
            self.close_connection = True
            raise _Refused(HTTPStatus.BAD_REQUEST, f"body ended after {len(body):,} of {int(length):,} bytes")
        if not body:
            raise _Refused(HTTPStatus.BAD_REQUEST, "empty body: POST the image file's bytes")
        return body

    def _drain_or_close(self):
        """A body that will not be read must not be parsed as the next request: read a small one, else hang up."""
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= self.server.max_bytes:
            self.rfile.read(int(length))
        elif length or "chunked" in self.headers.get("Transfer-Encoding", ""):
            self.close_connection = True

    def _not_found(self):
        self._reply(HTTPStatus.NOT_FOUND, {"error": f"no {self.command} {urlsplit(self.path).path}: "
                                                    "POST /classify (the image as the body), GET /health"})  # fmt: skip

    def _reply(self, status: HTTPStatus, payload: dict):
        body = (json.dumps(payload, ensure_ascii=False) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code="-", size="-"):
        """One access-log line per request: client, request, status, time spent."""
        elapsed = 1e3 * (time.perf_counter() - getattr(self, "_started", time.perf_counter()))
        code = code.value if isinstance(code, HTTPStatus) else code
        self.server.log(f'{self.client_address[0]} "{self.command} {self.path}" {code} {elapsed:.1f} ms', answered=True)

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        """Protocol errors (a malformed request line, a timeout) in the same one-line style."""
        self.server.log(f"{self.client_address[0]} {format % args}")


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


def serve(
    model: Path,
    *,
    host: str,
    port: int,
    workers: int,
    threads: int | None,
    max_bytes: int,
    verify: bool = True,
    announce: Callable[[str], None],
    log: Callable[[str], None],
) -> int:
    """Serve until SIGTERM or Ctrl-C; return the number of requests answered."""
    pool = ClassifierPool(model, workers=workers, threads=threads, verify=verify)
    try:
        server = Server((host, port), pool, max_bytes=max_bytes, log=log)
    except OSError as error:
        raise EdgeError(f"cannot listen on {host}:{port} ({error.strerror or error})") from None
    bound_host, bound_port = server.server_address[:2]
    labels = pool.classifier.labels
    # SIGINT too: a process started in the background of a script inherits SIGINT ignored, and Python then
    # leaves it so; a server must still stop on Ctrl-C or kill -INT.
    previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        announce(f"serving {model} ({len(labels)} labels, {'x'.join(map(str, pool.classifier.input_size))} px) "
                 f"on http://{bound_host}:{bound_port}: POST /classify, GET /health; Ctrl-C stops")  # fmt: skip
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        server.server_close()
    return server.answered


def _interrupt(signum, frame):
    """SIGTERM (systemd, docker stop, kill) and SIGINT (Ctrl-C) stop the server."""
    raise KeyboardInterrupt


def log_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
