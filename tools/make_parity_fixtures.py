#!/usr/bin/env python3
"""Real PyTorch checkpoints and logits for the PyTorch parity test (tests/test_parity.cpp).

Needs PyTorch (Debian python3-torch); CI never runs this, it reads the committed files:

    /usr/bin/python3 tools/make_parity_fixtures.py

Writes tests/fixtures/parity/:
  <model>_zip.pth, <model>_legacy.pth  the model's state_dict saved by torch.save in the zip
      format and in the legacy one (_use_new_zipfile_serialization=False); for half of the
      models the state_dict is bare, for the other half it is nested as
      {'epoch', 'state_dict': {'module.<name>': ...}} as nn.DataParallel training scripts save it
  logits.gwt  a genie tensor file (data/FORMAT.md): fixed batches of 3 network inputs
      `input.<channels>x<size>` (shared by the models that take that shape, to save space) and
      per model `<model>.logits`, PyTorch's eval-mode logits; metadata `models`
      (comma-separated) and per model `<model>.{arch,shortcut,width,in_channels,input_size,
      input,zip,legacy}`, where `input` names the input tensor

The models have the topologies and state_dict names genie's ResNets use (models/resnet.h):
akamaster's CIFAR ResNet-20 with shortcut A and B, and torchvision's ResNet-18 and ResNet-50
(built from torchvision's own blocks), all at a reduced width so the fixtures stay small. The
weights are seeded random; every BatchNorm has random affine parameters and running statistics
close to, but not equal to, the statistics of its input, so eval-mode BN does real work while
the activations keep a sane scale through 50 layers.

The logits are computed in float64 from the float32 weights and inputs and rounded once: the
exactly rounded answer, not one more float32 summation order.

logits.gwt and the zip checkpoints are byte-for-byte reproducible; the legacy checkpoints hold
the same tensors but differ between runs, since that format keys storages by memory address.
"""

import collections
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import resnet as tv

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "parity")
BATCH = 3
NUM_CLASSES = 10

# name, arch, shortcut, width, input channels, input size, state_dict nested in the zip file
# (else in the legacy one)
MODELS = [
    ("resnet20_A", "resnet20", "A", 4, 1, 28, False),
    ("resnet20_B", "resnet20", "B", 4, 3, 32, True),
    ("resnet18", "resnet18", "B", 4, 3, 64, False),
    ("resnet50", "resnet50", "B", 2, 3, 64, True),
]


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------

class PadShortcut(nn.Module):
    """akamaster's option A: subsample by 2, zero-pad the channels by planes // 4 on each side."""

    def __init__(self, planes):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class CifarBlock(nn.Module):
    def __init__(self, in_planes, planes, stride, shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            if shortcut == "A":
                self.shortcut = PadShortcut(planes)
            else:
                self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                              nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """akamaster/pytorch_resnet_cifar10's ResNet with stage widths (w, 2w, 4w)."""

    def __init__(self, blocks_per_stage, shortcut, width, in_channels, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        in_planes = width
        for stage in range(3):
            planes = width << stage
            blocks = []
            for i in range(blocks_per_stage):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(CifarBlock(in_planes, planes, stride, shortcut))
                in_planes = planes
            setattr(self, "layer%d" % (stage + 1), nn.Sequential(*blocks))
        self.linear = nn.Linear(in_planes, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


class ImageNetResNet(tv.ResNet):
    """torchvision's ResNet with stage widths (w, 2w, 4w, 8w): torchvision's blocks, layer
    builder and forward, only the hard-coded 64 replaced."""

    def __init__(self, block, layers, width, in_channels, num_classes):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)


def build(arch, shortcut, width, in_channels, num_classes=NUM_CLASSES):
    cifar = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9}
    if arch in cifar:
        return CifarResNet(cifar[arch], shortcut, width, in_channels, num_classes)
    block, layers = {"resnet18": (tv.BasicBlock, [2, 2, 2, 2]),
                     "resnet34": (tv.BasicBlock, [3, 4, 6, 3]),
                     "resnet50": (tv.Bottleneck, [3, 4, 6, 3])}[arch]
    return ImageNetResNet(block, layers, width, in_channels, num_classes)


# ----------------------------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------------------------

def randomize(model, in_channels, size):
    """Random convs, classifier and BN affine parameters; BN running statistics from the
    model's own activations on random inputs, then perturbed so they are not exact."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the calibration batches
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, 2.0 / m.in_features ** 0.5)
                m.bias.normal_(0.0, 0.5)
        model.train()
        for _ in range(4):
            model(torch.randn(16, in_channels, size, size))
        for bn in bns:
            std = bn.running_var.sqrt()
            bn.running_mean.add_(0.2 * std * torch.randn_like(std))
            bn.running_var.mul_(torch.empty_like(std).uniform_(0.6, 1.6))
            bn.momentum = 0.1
    model.eval()
    return model


# ----------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------

def text(s):
    data = s.encode("utf-8")
    return struct.pack("<I", len(data)) + data


def tensor_file(metadata, tensors):
    """The genie container (data/FORMAT.md): metadata [(key, value)], tensors [(name, t)]."""
    out = bytearray(b"GNIE" + struct.pack("<II", 1, len(metadata)))
    for key, value in metadata:
        out += text(key) + text(value)
    out += struct.pack("<I", len(tensors))
    for name, t in tensors:
        shape = list(t.shape)
        out += text(name) + struct.pack("<BBB", 0, 32, len(shape))
        out += struct.pack("<%dI" % len(shape), *shape)
        values = t.float().reshape(-1).tolist()
        out += struct.pack("<%df" % len(values), *values)
    return bytes(out)


def save_checkpoints(name, model, nested_in_zip):
    sd = model.state_dict()
    nested = {"epoch": 7, "state_dict": collections.OrderedDict(
        ("module." + k, v) for k, v in sd.items())}
    files = {"zip": name + "_zip.pth", "legacy": name + "_legacy.pth"}
    torch.save(nested if nested_in_zip else sd, os.path.join(OUT, files["zip"]))
    torch.save(sd if nested_in_zip else nested, os.path.join(OUT, files["legacy"]),
               _use_new_zipfile_serialization=False)
    return files


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(2024)
    metadata = [("models", ",".join(m[0] for m in MODELS)), ("torch", torch.__version__)]
    tensors = []
    inputs = {}
    for name, arch, shortcut, width, in_channels, size, nested_in_zip in MODELS:
        model = randomize(build(arch, shortcut, width, in_channels), in_channels, size)
        files = save_checkpoints(name, model, nested_in_zip)
        input_name = "input.%dx%d" % (in_channels, size)
        if input_name not in inputs:
            inputs[input_name] = torch.randn(BATCH, in_channels, size, size)
            tensors.append((input_name, inputs[input_name]))
        x = inputs[input_name]
        with torch.no_grad():
            logits = model.double()(x.double()).float()
            single = model.float()(x)
        err = (single - logits).abs()
        drift = (err / logits.abs().clamp_min(1e-3)).max().item()
        metadata += [(name + ".arch", arch), (name + ".shortcut", shortcut),
                     (name + ".width", str(width)), (name + ".in_channels", str(in_channels)),
                     (name + ".input_size", str(size)), (name + ".input", input_name),
                     (name + ".zip", files["zip"]),
                     (name + ".legacy", files["legacy"])]
        tensors.append((name + ".logits", logits))
        print("%-10s %8d parameters  logits in [%.3f, %.3f]  torch float32 vs float64: "
              "max rel %.2g, max abs %.2g" % (name, sum(p.numel() for p in model.parameters()),
                                               logits.min().item(), logits.max().item(), drift,
                                               err.max().item()))
    with open(os.path.join(OUT, "logits.gwt"), "wb") as f:
        f.write(tensor_file(metadata, tensors))
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print("wrote %s (%d bytes in all) with torch %s" % (os.path.normpath(OUT), total,
                                                        torch.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
