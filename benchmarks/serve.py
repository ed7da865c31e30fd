"""What HTTP costs: `edge serve` under 1, 4 and 8 concurrent clients against `edge bench`'s end-to-end latency of
the same photo, for one copy of the model with all threads (a lock) and one copy per core with one thread each;
then frames/s of `edge infer --source` on a video file.

    python benchmarks/serve.py MODEL [MODEL ...] [--requests 200]

Clients keep their connection alive and send a generated 640x480 JPEG (edge bench's stand-in photo); latency is
the client's, from sending the request to reading the whole answer. The video is 300 frames of 640x480 MPEG-4.
Medians side by side in one run: this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from edge.runtime.bench import bench, stand_in_photo

CLIENTS = (1, 4, 8)


def start_server(model: Path, workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    server = subprocess.Popen(
        [sys.executable, "-m", "edge", "serve", str(model), "--port", "0", "--workers", str(workers),
         "--threads", str(threads)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    port = re.search(r"http://127\.0\.0\.1:(\d+)", server.stderr.readline())
    threading.Thread(target=server.stderr.read, daemon=True).start()  # drain the access log
    return server, int(port.group(1))


def load(port: int, photo: bytes, clients: int, requests: int) -> dict:
    """`requests` POSTs spread over `clients` threads, each on its own kept-alive connection."""
    latencies: list[float] = []

    def client(count: int):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(count):
            started = time.perf_counter()
            connection.request("POST", "/classify", body=photo)
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status
            latencies.append(1e3 * (time.perf_counter() - started))
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(requests // clients,)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"rps": len(latencies) / elapsed, "p50": statistics.median(latencies),
            "p99": float(np.percentile(latencies, 99))}  # fmt: skip


def video_fps(model: Path, clip: Path) -> float:
    result = subprocess.run([sys.executable, "-m", "edge", "infer", str(model), "--source", str(clip), "--json"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    return float(re.search(r"\(([\d.]+) fps\)", result.stderr).group(1))


def write_clip(path: Path, photo: Path, frames: int = 300) -> None:
    import cv2

    bgr = np.asarray(Image.open(photo))[..., ::-1]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (bgr.shape[1], bgr.shape[0]))
    for shift in range(frames):  # a moving picture, so that every frame decodes as real video does
        writer.write(np.ascontiguousarray(np.roll(bgr, 4 * shift, axis=1)))
    writer.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", type=Path, nargs="+", metavar="MODEL")
    parser.add_argument("--requests", type=int, default=200, help="requests per client count")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        photo, clip = Path(folder) / "photo.jpg", Path(folder) / "clip.mp4"
        stand_in_photo(photo)
        write_clip(clip, photo)
        body = photo.read_bytes()
        print(f"{cores} cores; {args.requests} requests per row, 640x480 JPEG of {len(body):,} bytes")
        print(f"{'model':<24}{'server':<24}{'clients':>8}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}")
        for model in args.models:
            (row,) = bench([model], photo, runs=100, warmup=10, threads=None)
            print(f"{model.name:<24}{'edge bench, e2e p50':<24}{'':>8}{1e3 / row.e2e_ms_p50:>8.1f}"
                  f"{row.e2e_ms_p50:>8.2f}")  # fmt: skip
            for workers, threads in ((1, cores), (cores, 1)):
                server, port = start_server(model, workers, threads)
                load(port, body, 1, 20)  # warm-up
                for clients in CLIENTS:
                    figures = load(port, body, clients, args.requests)
                    name = f"--workers {workers} --threads {threads}"
                    print(f"{model.name:<24}{name:<24}{clients:>8}{figures['rps']:>8.1f}{figures['p50']:>8.2f}"
                          f"{figures['p99']:>8.2f}")  # fmt: skip
                server.send_signal(signal.SIGTERM)
                server.wait()
            print(f"{model.name:<24}{'--source clip.mp4':<24}{'':>8}{video_fps(model, clip):>8.1f} frames/s")


if __name__ == "__main__":
    main()
