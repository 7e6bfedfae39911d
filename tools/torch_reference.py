#!/usr/bin/env python3
"""The same work as `genie bench distill|recon|train`, in PyTorch, for speed ratios measured on
one machine in one run (tools/bench.sh, tools/gpu_check.sh).

  distill  one GENIE-D iteration: generator -> frozen random-weight ResNet (eval mode, swing
           convolution before every strided conv) -> BN-statistics loss + input loss ->
           backward -> an Adam step for the latent codes and one for the generator.
  recon    one GENIE-M reconstruction iteration on the network's first stride-2 block at W4A4:
           soft-bit weights with a learned step, activation quantizers with a learned step and
           QDrop, a mini-batch drawn from 1024 cached block inputs -> loss -> backward -> Adam.
  train    one step of `genie train`'s recipe (models/train.h) on the ResNet in training mode:
           a batch of random byte images drawn from 1024 held in memory -> to floats in [0, 1]
           -> zero-pad 2, random crop and random horizontal flip per image -> normalise ->
           forward -> cross-entropy -> backward -> SGD (lr 0.1, momentum 0.9, weight decay
           5e-4). As in genie, the batch is prepared on the host and then moved to the device.

Usage: torch_reference.py distill|recon|train [--arch resnet20|resnet18|...] [--batch 128]
       [--channels 3] [--size S] [--iters 5] [--threads T] [--device cpu|cuda]
Prints one line like genie's: MODE arch=.. batch=.. device=.. threads=.. sec_per_iter=..
images_per_sec=.. and peak_gpu_mb=.. (cuda) or peak_rss_mb=.. (cpu).
Needs python3-torch and python3-torchvision. Weights are random: timing does not depend on them.
"""
import argparse
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from torch_accuracy_check import Block  # the CIFAR BasicBlock, option A shortcut

CIFAR_DEPTHS = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9}


def cifar_resnet(blocks_per_stage, channels):
    layers = [nn.Conv2d(channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for stage, cout in enumerate([16, 32, 64]):
        for i in range(blocks_per_stage):
            layers.append(Block(cin, cout, 2 if stage > 0 and i == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def make_model(arch, channels):
    if arch in CIFAR_DEPTHS:
        return cifar_resnet(CIFAR_DEPTHS[arch], channels)
    model = getattr(torchvision.models, arch)(num_classes=1000)
    model.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
    return model


class Generator(nn.Module):
    """GENIE-D's generator (docs/METHOD.md)."""

    def __init__(self, channels, size):
        super().__init__()
        self.s0 = size // 4
        self.linear = nn.Linear(256, 128 * self.s0 * self.s0)
        self.body = nn.Sequential(
            nn.BatchNorm2d(128), nn.Upsample(scale_factor=2), nn.Conv2d(128, 64, 3, 1, 1),
            nn.BatchNorm2d(64), nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2),
            nn.Conv2d(64, channels, 3, 1, 1), nn.Tanh(), nn.BatchNorm2d(channels, affine=False))

    def forward(self, z):
        return self.body(self.linear(z).view(-1, 128, self.s0, self.s0))


def swing(conv):
    """Reflect-pad by 1, crop back at a random offset, then the strided conv unchanged."""
    def shift(module, inputs):
        x = F.pad(inputs[0], (1, 1, 1, 1), mode="reflect")
        dx, dy = (int(v) for v in torch.randint(0, 3, (2,)))
        return (x[:, :, dy:dy + inputs[0].shape[2], dx:dx + inputs[0].shape[3]],)
    return conv.register_forward_pre_hook(shift)


def distill_step(model, size, channels, batch, device):
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.stride != (1, 1):
            swing(m)
    observed = []
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.register_forward_hook(lambda mod, inp, out: observed.append((mod, inp[0])))
    gen = Generator(channels, size).to(device)
    z = torch.randn(batch, 256, device=device, requires_grad=True)
    opt_z, opt_g = torch.optim.Adam([z], lr=0.1), torch.optim.Adam(gen.parameters(), lr=0.01)

    def step():
        observed.clear()
        images = gen(z)
        model(images)
        loss = 0
        for bn, x in observed:
            m, d = x.mean((0, 2, 3)), x.std((0, 2, 3))
            loss = loss + ((m - bn.running_mean) ** 2).sum() / m.numel()
            loss = loss + ((d - (bn.running_var + 1e-6).sqrt()) ** 2).sum() / d.numel()
        m, d = images.mean((2, 3)), images.std((2, 3))
        loss = loss + (m ** 2).sum() + ((d - 1) ** 2).sum()
        opt_z.zero_grad()
        opt_g.zero_grad()
        loss.backward()
        opt_z.step()
        opt_g.step()
        return loss.item()
    return step


def fake_quant(x, step, lo, hi):
    q = torch.clamp(x / step, lo, hi)
    return (torch.round(q) - q).detach() * step + q * step  # round with a straight-through gradient


class SoftWeight:
    """W4 per-channel soft-bit weights with a learned step (docs/METHOD.md, Weight quantizer)."""

    def __init__(self, w):
        shape = (-1,) + (1,) * (w.dim() - 1)
        flat = w.flatten(1)
        self.zp = torch.round(-flat.min(1).values / ((flat.max(1).values - flat.min(1).values) / 15))
        self.step = ((flat.max(1).values - flat.min(1).values) / 15).view(shape).requires_grad_()
        self.zp = self.zp.view(shape)
        scaled = w / self.step.detach()
        self.floor = torch.floor(scaled)
        rest = (scaled - self.floor).clamp(0.01, 0.99)
        self.v = (-torch.log(1.2 / (rest + 0.1) - 1)).requires_grad_()

    def weights(self):
        h = torch.clamp(torch.sigmoid(self.v) * 1.2 - 0.1, 0, 1)
        return (torch.clamp(self.floor + h + self.zp, 0, 15) - self.zp) * self.step


def recon_step(model, size, channels, batch, device):
    units = list(model.children()) if isinstance(model, nn.Sequential) else None
    if units is None:  # torchvision: stem, then the blocks of layer1..4
        units = [nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)]
        units += [b for layer in (model.layer1, model.layer2, model.layer3, model.layer4)
                  for b in layer]
    first = next(i for i, u in enumerate(units) if hasattr(u, "conv1") and u.conv1.stride != (1, 1))
    with torch.no_grad():
        x = torch.randn(1024, channels, size, size, device=device)
        for u in units[:first]:
            x = u(x)
        block = units[first]
        y = block(x)
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    quant = {c: SoftWeight(c.weight.detach()) for c in convs}
    act_steps = {c: torch.tensor(0.1, device=device, requires_grad=True) for c in convs}

    def quantized_conv(conv):
        def run(x):
            xq = fake_quant(x, act_steps[conv], -8, 7)
            keep = torch.rand_like(xq) < 0.5  # QDrop
            return F.conv2d(torch.where(keep, x, xq), quant[conv].weights(), None, conv.stride,
                            conv.padding)
        return run
    for c in convs:
        c.forward = quantized_conv(c)  # instead of the float conv, not after it
    opts = [torch.optim.Adam([q.v for q in quant.values()], lr=1e-3),
            torch.optim.Adam([q.step for q in quant.values()], lr=1e-4),
            torch.optim.Adam(list(act_steps.values()), lr=4e-5)]

    def step():
        idx = torch.randint(0, 1024, (batch,), device=device)
        out = block(x[idx])
        loss = ((out - y[idx]) ** 2).sum(1).mean()
        for o in opts:
            o.zero_grad()
        loss.backward()
        for o in opts:
            o.step()
        return loss.item()
    return step


def augment(x, padding):
    """Per image: a random crop after zero padding by `padding` and a horizontal flip with
    probability 1/2 (torchvision's RandomCrop(padding) and RandomHorizontalFlip), the pixels
    engine::augment reads, as one gather over the batch."""
    n, c, h, w = x.shape
    dy = torch.randint(0, 2 * padding + 1, (n, 1))
    dx = torch.randint(0, 2 * padding + 1, (n, 1))
    mirror = torch.rand(n, 1) < 0.5
    rows, cols = torch.arange(h), torch.arange(w)
    rows = rows + dy  # in the padded image
    cols = torch.where(mirror, w - 1 - cols, cols) + dx
    padded = F.pad(x, (padding,) * 4)
    return padded[torch.arange(n).view(n, 1, 1, 1), torch.arange(c).view(1, c, 1, 1),
                  rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]


def train_step(model, size, channels, batch, device):
    model.train()
    for q in model.parameters():
        q.requires_grad_(True)
    classes = [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features
    count = max(batch, 1024)
    pool = torch.randint(0, 256, (count, channels, size, size), dtype=torch.uint8)
    labels = torch.randint(0, classes, (count,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

    def step():
        idx = torch.randint(0, count, (batch,))
        x = augment(pool[idx].float() / 255, 2)
        x = (x - 0.5) / 0.25  # genie bench's model config: mean 0.5, std 0.25 per channel
        loss = F.cross_entropy(model(x.to(device)), labels[idx].to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


STEPS = {"distill": distill_step, "recon": recon_step, "train": train_step}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=list(STEPS))
    p.add_argument("--arch", default="resnet20")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    size = a.size or (32 if a.arch in CIFAR_DEPTHS else 224)
    model = make_model(a.arch, a.channels).to(a.device).eval()
    for q in model.parameters():
        q.requires_grad_(False)  # GENIE's network is frozen; train_step thaws it
    step = STEPS[a.mode](model, size, a.channels, a.batch, a.device)
    step()  # setup and the first iteration are not timed, as in genie bench
    start = time.perf_counter()
    for _ in range(a.iters):
        step()
    sec = (time.perf_counter() - start) / a.iters
    if a.device == "cuda":
        memory = "peak_gpu_mb=%.1f" % (torch.cuda.max_memory_allocated() / 1e6)
    else:
        memory = "peak_rss_mb=%.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3)
    print("%s arch=%s batch=%d device=%s threads=%d sec_per_iter=%.4f images_per_sec=%.1f %s" %
          (a.mode, a.arch, a.batch, a.device, torch.get_num_threads(), sec, a.batch / sec, memory))


if __name__ == "__main__":
    main()
