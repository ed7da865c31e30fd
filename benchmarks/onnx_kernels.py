"""onnxruntime's int8 kernels on this CPU: latency of a run's float and int8 ONNX models under the default and the
exact (`session.x64quantprecision`) kernels, three rounds side by side, and what the two kernels answer.

    python benchmarks/onnx_kernels.py RUN_DIR [--data DIR/<class>/*] [--runs 200]

Batch 1, 2 intra-op threads (all cores here), after 20 warm-up runs, random pixels at the model's input size for
latency; the labelled images of --data (the run's validation split) for the answers: top-1 agreement with the
float model, accuracy, and the largest |Δp| between the two kernels. `edge.runtime` asks for the exact kernels
only where the default ones can saturate (x86 without VNNI): which it picks here is printed first.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime

from edge.runtime import Manifest, load_image
from edge.runtime.backends import cpu_flags, needs_exact_int8_kernels
from edge.runtime.preprocess import image_files


def session(model: Path, exact: bool) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    if exact:
        options.add_session_config_entry("session.x64quantprecision", "1")
    return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def p50_ms(model: Path, exact: bool, pixels: np.ndarray, runs: int) -> float:
    run = session(model, exact)
    feed = {run.get_inputs()[0].name: pixels}
    for _ in range(20):
        run.run(None, feed)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run.run(None, feed)
        times.append(1e3 * (time.perf_counter() - started))
    return statistics.median(times)


def answers(model: Path, exact: bool, images: np.ndarray) -> np.ndarray:
    run = session(model, exact)
    name = run.get_inputs()[0].name
    return np.concatenate([run.run(None, {name: image[None]})[0] for image in images])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, metavar="RUN_DIR")
    parser.add_argument("--data", type=Path, help="labelled images, DIR/<class>/*")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    manifest = Manifest.load(args.run / "edge.json")
    float_model, int8_model = args.run / "export/model.onnx", args.run / "export/model_int8.onnx"
    flags = cpu_flags() or frozenset()
    print(f"onnxruntime {onnxruntime.__version__}, {platform.machine()}, VNNI: "
          f"{sorted(flags & {'avx512_vnni', 'avx_vnni'}) or 'none'}; edge.runtime uses the "
          f"{'exact' if needs_exact_int8_kernels(platform.machine(), cpu_flags()) else 'default'} kernels")  # fmt: skip

    pixels = np.random.default_rng(0).integers(0, 256, (1, *manifest.input_size, 3), dtype=np.uint8)
    print("\n| ONNX model | default kernels p50 ms | exact kernels p50 ms |\n|---|---|---|")
    rounds = {(model, exact): [] for model in (float_model, int8_model) for exact in (False, True)}
    for _ in range(3):
        for (model, exact), times in rounds.items():
            times.append(p50_ms(model, exact, pixels, args.runs))
    for model in (float_model, int8_model):
        cells = (" ".join(f"{ms:.2f}" for ms in rounds[model, exact]) for exact in (False, True))
        print(f"| {model.name} | {' | '.join(cells)} |")
    float_p50 = statistics.median(rounds[float_model, False])
    for exact in (False, True):
        ratio = statistics.median(rounds[int8_model, exact]) / float_p50
        print(f"int8 / float, {'exact' if exact else 'default'} kernels: {ratio:.2f}")

    if not args.data:
        return
    files = [path for path in image_files(args.data) if path.parent.name in manifest.labels]
    labels = np.array([manifest.labels.index(path.parent.name) for path in files])
    images = np.stack([load_image(path, manifest.input_size) for path in files])
    reference = answers(float_model, False, images).argmax(1)
    by_kernel = {exact: answers(int8_model, exact, images) for exact in (False, True)}
    print(f"\nint8, {len(files)} images | agreement with float | accuracy (float {np.mean(reference == labels):.4f})")
    for exact, probabilities in by_kernel.items():
        top1 = probabilities.argmax(1)
        kernels = "exact" if exact else "default"
        print(f"{kernels} kernels | {np.mean(top1 == reference):.4f} | {np.mean(top1 == labels):.4f}")
    print(f"largest |Δp| between the kernels: {np.abs(by_kernel[False] - by_kernel[True]).max():.4f}")


if __name__ == "__main__":
    main()
