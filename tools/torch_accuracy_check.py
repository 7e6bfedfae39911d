#!/usr/bin/env python3
"""A PyTorch-trained checkpoint, converted, must score in genie what it scores in PyTorch.

Trains a CIFAR-style ResNet-20 (akamaster's layout and names, shortcut A) on Fashion-MNIST in
PyTorch for a short while (or takes --checkpoint), saves it with torch.save, evaluates it in
PyTorch on the 10,000 test images, converts it with tools/convert_torch.py, evaluates it with
`genie eval`, and prints both top-1 figures. No third-party checkpoint can be downloaded on the
machines this project runs on, so this is the real-checkpoint check that can be run here.

Usage: /usr/bin/python3 tools/torch_accuracy_check.py [--steps 300] [--genie build/genie]
Needs Debian's python3-torch and dataset-fashion-mnist.
"""
import argparse, gzip, os, subprocess, sys, tempfile
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def idx(name, offset):
    with gzip.open(os.path.join(DATA, name)) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def split(prefix):
    images = idx(prefix + "-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    labels = idx(prefix + "-labels-idx1-ubyte.gz", 8).astype(np.int64)
    x = (torch.from_numpy(images.astype(np.float32)) / 255.0 - MEAN) / STD
    return x, torch.from_numpy(labels)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = (cout - cin) // 2 if stride != 1 or cin != cout else 0

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        skip = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad)) if self.pad else x
        return F.relu(out + skip)


class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for stage, cout in enumerate([16, 32, 64]):
            blocks = []
            for i in range(3):
                blocks.append(Block(cin, cout, 2 if stage > 0 and i == 0 else 1))
                cin = cout
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--checkpoint", default="")
    p.add_argument("--genie", default="build/genie")
    a = p.parse_args()
    torch.manual_seed(0)
    net = ResNet20()
    if a.checkpoint:
        net.load_state_dict(torch.load(a.checkpoint, map_location="cpu"))
    else:
        x, y = split("train")
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        for step in range(a.steps):
            i = torch.randint(0, len(x), (128,))
            loss = F.cross_entropy(net(x[i]), y[i])
            opt.zero_grad(); loss.backward(); opt.step()
    net.eval()
    x, y = split("t10k")
    with torch.no_grad():
        torch_top1 = 100.0 * sum((net(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum().item()
                                 for i in range(0, len(x), 500)) / len(x)
    with tempfile.TemporaryDirectory() as tmp:
        pth, gw = os.path.join(tmp, "r20.pth"), os.path.join(tmp, "r20.gw")
        torch.save({"state_dict": net.state_dict()}, pth)
        subprocess.run([sys.executable, "tools/convert_torch.py", pth, gw, "--arch", "resnet20",
                        "--in-channels", "1", "--input-size", "28", "--mean", str(MEAN),
                        "--std", str(STD)], check=True)
        out = subprocess.run([a.genie, "eval", "--model", gw], check=True, capture_output=True,
                             text=True).stdout.strip().splitlines()[-1]
    genie_top1 = float(out.split()[0].split("=")[1])
    print(f"torch_top1={torch_top1:.2f} genie_top1={genie_top1:.2f}")
    sys.exit(0 if abs(torch_top1 - genie_top1) < 0.015 else 1)


if __name__ == "__main__":
    main()
