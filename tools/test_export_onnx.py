#!/usr/bin/env python3
"""ONNX export and integer engine checked against genie's simulation on Fashion-MNIST.

    python3 tools/test_export_onnx.py BUILD/genie [--model Q.gw | --skip-input quantized|float]
        [--limit 2000]

Without --model it quantizes the embedded default model round-to-nearest at W4A4 on 256 real
training images (a few seconds), its shortcuts reading --skip-input. Then, on the first --limit test images (0: all 10,000):
  - `genie eval --engine int` has exactly the simulation's top-1 (`genie eval`), or with a float
    skip within 0.1: there the simulation's float rounding is carried from block to block along
    the skip instead of being snapped to the quantizer's grid at each block entry, so an
    activation near a rounding boundary is crossed more often (1 image in 10,000 measured);
  - `genie export --onnx` writes a model that ONNX Runtime evaluates within 0.1 top-1 points of
    the simulation (its QuantizeLinear rounds as the simulation does, but its float sums may
    differ in order, which can move an activation across a rounding boundary).
It skips, saying why, when onnxruntime or onnx cannot be imported (pip install onnxruntime).
"""
import argparse
import gzip
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"


def skip_without(module):
    try:
        __import__(module)
    except ImportError as e:
        print(f"SKIP: tools/test_export_onnx.py needs the {module} package ({e})")
        sys.exit(0)


def genie_top1(genie, *args):
    out = subprocess.run([genie, *args], check=True, capture_output=True, text=True).stdout
    return float(re.search(r"top1=([0-9.]+)", out).group(1))


def test_images(limit, mean, std):
    with gzip.open(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    n = limit or len(labels)
    # As engine::normalize: x / 255, then (x - mean) / std in float32.
    x = images[:n].astype(np.float32) / np.float32(255.0)
    return (x - np.float32(mean)) / np.float32(std), labels[:n]


def onnx_top1(path, limit):
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    x, labels = test_images(limit, float(meta["mean"]), float(meta["std"]))
    hits = 0
    for start in range(0, len(labels), 500):
        logits = session.run(None, {"input": x[start:start + 500]})[0]
        hits += int((logits.argmax(axis=1) == labels[start:start + 500]).sum())
    return 100.0 * hits / len(labels)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("genie")
    parser.add_argument("--model", default="")
    parser.add_argument("--skip-input", default="quantized", choices=["quantized", "float"])
    parser.add_argument("--limit", type=int, default=2000)
    args = parser.parse_args()
    skip_without("onnxruntime")
    skip_without("onnx")
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or os.path.join(tmp, "q.gw")
        if not args.model:
            subprocess.run([args.genie, "quantize", "--calib", "fashion-mnist", "--num", "256",
                            "--method", "rtn", "--skip-input", args.skip_input, "--out", model],
                           check=True,
                           capture_output=True)
        limit = ["--limit", str(args.limit)]
        sim = genie_top1(args.genie, "eval", "--model", model, *limit)
        integer = genie_top1(args.genie, "eval", "--model", model, "--engine", "int", *limit)
        onnx_path = os.path.join(tmp, "q.onnx")
        subprocess.run([args.genie, "export", "--onnx", onnx_path, "--model", model,
                        "--python", sys.executable], check=True, capture_output=True)
        onnx = onnx_top1(onnx_path, args.limit)
    print(f"sim_top1={sim:.2f} int_top1={integer:.2f} onnx_top1={onnx:.2f} "
          f"images={args.limit or 10000}")
    failures = []
    int_tolerance = 0.0 if args.skip_input == "quantized" else 0.1
    if abs(integer - sim) > int_tolerance:
        failures.append(f"integer engine top-1 {integer:.2f} is more than {int_tolerance} "
                        f"from the simulation's {sim:.2f}")
    if abs(onnx - sim) > 0.1:
        failures.append(f"ONNX Runtime top-1 {onnx:.2f} is more than 0.1 from {sim:.2f}")
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
