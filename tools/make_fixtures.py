"""PyTorch reference fixtures for the engine's ops, written as a genie tensor file.

Regenerate (PyTorch 1.13 lives only in the system Python; CI never runs this, it reads the
committed file):

    /usr/bin/python3 tools/make_fixtures.py tests/fixtures/ops.gwt

The output is deterministic: the same PyTorch version writes the same bytes.

Every case has a name `<op>.<i>` listed, in order, in the metadata key `cases`. A case stores
its inputs, its output `y`, a random upstream gradient `dy` and the gradients `grad.<input>` of
sum(y * dy) for every float input, as tensors named `<case>.<tensor>`; integer arguments
(stride, padding, ...) are metadata `<case>.<argument>`. Inputs are float32; the reference is
computed from them in float64 and rounded to float32 once, so it is the exactly rounded answer
rather than one more float32 summation order. tests/test_fixtures.cpp replays every case.

The container is written with `struct` alone, following data/FORMAT.md, so this script does
not depend on the engine.
"""

import struct
import sys

import torch
import torch.nn.functional as F

MAGIC = b"GNIE"
VERSION = 1


class Fixtures:
    def __init__(self):
        self.metadata = []  # (key, value) in order
        self.tensors = []  # (name, float32 tensor) in order
        self.cases = []

    def case(self, op, params, inputs, forward):
        """Runs `forward(**inputs)` in float64 and stores inputs, output and gradients."""
        name = f"{op}.{sum(c.startswith(op + '.') for c in self.cases)}"
        self.cases.append(name)
        for key, value in params.items():
            self.metadata.append((f"{name}.{key}", str(value)))
        leaves = {k: v.double().requires_grad_(True) for k, v in inputs.items()}
        y = forward(**leaves)
        dy = torch.randn(y.shape)
        (y * dy.double()).sum().backward()
        for key, value in inputs.items():
            self.tensors.append((f"{name}.{key}", value))
        self.tensors.append((f"{name}.y", y.detach().float()))
        self.tensors.append((f"{name}.dy", dy))
        for key, leaf in leaves.items():
            self.tensors.append((f"{name}.grad.{key}", leaf.grad.float()))
        return name

    def add(self, name, tensor):
        self.tensors.append((name, tensor.detach().float()))

    def serialize(self):
        out = bytearray(MAGIC + struct.pack("<I", VERSION))
        metadata = [("cases", ",".join(self.cases))] + self.metadata
        out += struct.pack("<I", len(metadata))
        for key, value in metadata:
            out += text(key) + text(value)
        out += struct.pack("<I", len(self.tensors))
        for name, tensor in self.tensors:
            shape = list(tensor.shape)
            out += text(name) + struct.pack("<BBB", 0, 32, len(shape))
            out += struct.pack(f"<{len(shape)}I", *shape)
            values = tensor.float().reshape(-1).tolist()
            out += struct.pack(f"<{len(values)}f", *values)
        return bytes(out)


def text(s):
    data = s.encode("utf-8")
    return struct.pack("<I", len(data)) + data


def conv_cases(fx):
    # (N, C, H, W, K, R, S, stride, padding, bias): odd and even sizes, the 7x7/2 ImageNet stem,
    # the 1x1/2 projection shortcut and a non-square 3x1 kernel.
    configs = [
        (1, 3, 7, 6, 4, 3, 3, 1, 1, True),
        (3, 2, 9, 8, 5, 3, 3, 2, 0, False),
        (2, 3, 11, 10, 4, 7, 7, 2, 3, True),
        (3, 4, 6, 5, 3, 3, 1, 1, 1, True),
        (2, 6, 7, 7, 8, 1, 1, 2, 0, False),
        (1, 2, 5, 9, 3, 3, 3, 2, 1, False),
    ]
    for n, c, h, w, k, r, s, stride, padding, bias in configs:
        inputs = {"x": torch.randn(n, c, h, w), "w": torch.randn(k, c, r, s) * 0.3}
        if bias:
            inputs["b"] = torch.randn(k)
        fx.case("conv2d", {"stride": stride, "padding": padding}, inputs,
                lambda x, w, b=None: F.conv2d(x, w, b, stride=stride, padding=padding))


def linear_cases(fx):
    for n, fan_in, fan_out, bias in [(1, 7, 5, True), (3, 10, 4, False), (4, 6, 9, True)]:
        inputs = {"x": torch.randn(n, fan_in), "w": torch.randn(fan_out, fan_in) * 0.4}
        if bias:
            inputs["b"] = torch.randn(fan_out)
        fx.case("linear", {}, inputs, lambda x, w, b=None: F.linear(x, w, b))


def batch_norm_cases(fx):
    momentum, eps = 0.1, 1e-5
    # (N, C, H, W, training, affine); N=1 trains on H*W values per channel alone.
    for n, c, h, w, training, affine in [(3, 4, 5, 3, True, True), (2, 3, 3, 4, True, False),
                                         (1, 2, 4, 5, True, True), (3, 4, 5, 3, False, True),
                                         (2, 3, 2, 3, False, False)]:
        # Shifted and scaled, so that the statistics are far from the initial running ones.
        inputs = {"x": torch.randn(n, c, h, w) * 1.7 + 0.6}
        if affine:
            inputs["gamma"] = torch.rand(c) + 0.5
            inputs["beta"] = torch.randn(c)
        running_mean = torch.randn(c) * 0.5
        running_var = torch.rand(c) * 1.5 + 0.5
        mean64, var64 = running_mean.double(), running_var.double()

        def forward(x, gamma=None, beta=None):
            return F.batch_norm(x, mean64, var64, gamma, beta, training=training,
                                momentum=momentum, eps=eps)

        name = fx.case("batch_norm", {"training": int(training), "momentum": momentum,
                                      "eps": eps}, inputs, forward)
        fx.add(f"{name}.running_mean", running_mean)
        fx.add(f"{name}.running_var", running_var)
        fx.add(f"{name}.running_mean_out", mean64)
        fx.add(f"{name}.running_var_out", var64)


def pool_cases(fx):
    for n, c, h, w in [(2, 3, 9, 8), (1, 2, 6, 7)]:
        fx.case("max_pool2d", {"kernel": 3, "stride": 2, "padding": 1},
                {"x": torch.randn(n, c, h, w)},
                lambda x: F.max_pool2d(x, 3, stride=2, padding=1))
    # (kernel, stride, padding, shape); padded zeros count in the average, as in the engine.
    for k, s, p, shape in [(2, 2, 0, (1, 2, 8, 6)), (2, 2, 0, (2, 3, 7, 5)),
                           (3, 2, 1, (3, 2, 7, 9))]:
        fx.case("avg_pool2d", {"kernel": k, "stride": s, "padding": p},
                {"x": torch.randn(*shape)},
                lambda x: F.avg_pool2d(x, k, stride=s, padding=p, count_include_pad=True))
    # The engine's global pool returns (N, C), PyTorch's adaptive pool (N, C, 1, 1).
    for shape in [(3, 5, 4, 7), (1, 2, 1, 1)]:
        fx.case("global_avg_pool", {}, {"x": torch.randn(*shape)},
                lambda x: F.adaptive_avg_pool2d(x, 1).flatten(1))


def resample_cases(fx):
    for shape in [(2, 3, 3, 5), (1, 1, 1, 2)]:
        fx.case("upsample_nearest2x", {}, {"x": torch.randn(*shape)},
                lambda x: F.interpolate(x, scale_factor=2, mode="nearest"))
    for pad, shape in [(1, (2, 2, 5, 4)), (2, (1, 3, 3, 6)), (2, (2, 1, 4, 3))]:
        fx.case("reflection_pad2d", {"pad": pad}, {"x": torch.randn(*shape)},
                lambda x: F.pad(x, (pad, pad, pad, pad), mode="reflect"))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: /usr/bin/python3 tools/make_fixtures.py tests/fixtures/ops.gwt")
    torch.manual_seed(0)
    fx = Fixtures()
    conv_cases(fx)
    linear_cases(fx)
    batch_norm_cases(fx)
    pool_cases(fx)
    resample_cases(fx)
    data = fx.serialize()
    with open(sys.argv[1], "wb") as f:
        f.write(data)
    print(f"{sys.argv[1]}: {len(fx.cases)} cases, {len(fx.tensors)} tensors, {len(data)} bytes")


if __name__ == "__main__":
    main()
