#!/usr/bin/env python3
"""Writes the tiny real PyTorch checkpoints that tools/test_convert_torch.py reads.

Needs PyTorch (Debian python3-torch): /usr/bin/python3 tools/make_converter_fixtures.py
Output, in tests/fixtures/checkpoints/ (a few KB in all):
  tiny_zip.pth     torch.save zip format  ({'epoch', 'state_dict': {'module.*': ...}})
  tiny_legacy.pth  the same, _use_new_zipfile_serialization=False
  tiny_bare.pth    a bare state_dict (zip format) of nn.Parameters, with num_batches_tracked
  tiny_expected.json  names, dtypes, shapes and row-major values of every tensor above
  resnet20_sequential.pth  the parity fixtures' ResNet-20 (shortcut A, width 4, 1 channel;
      tests/fixtures/parity/resnet20_A_zip.pth) as one flat nn.Sequential: its state_dict
      names are 0.* (stem conv), 1.* (stem BN), 3.* to 11.* (the nine blocks), 14.* (the
      classifier). Its PyTorch logits on the parity input are checked here to equal the
      parity fixture's, so converting it with the README's --rename lines must give the same
      .gw as the parity checkpoint, whose genie logits tests/test_parity.cpp compares
The state_dict holds a float32 tensor, a transposed (non-contiguous) one, a view with a
storage offset, a strided slice, float16 and float64 tensors, an int64 num_batches_tracked
and two tensors that share one storage.
"""

import collections
import json
import os
import sys

import torch
import torch.nn as nn

import make_parity_fixtures as mpf
from mutate_convert_torch import read_gw

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "checkpoints")


def tiny_state_dict():
    torch.manual_seed(0)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8 - 1
    big = torch.randn(5, 7)
    sd = collections.OrderedDict()
    sd["module.conv.weight"] = torch.randn(2, 3, 2, 2)
    sd["module.fc.weight"] = base.t()                      # (6, 4), strides (1, 6)
    sd["module.offset_view"] = base[1:3]                    # storage offset 6, shares `base`
    sd["module.strided"] = big[::2, 1::3]                   # offset 1, strides (14, 3)
    sd["module.half"] = torch.tensor([0.5, -2.0, 65504.0, 1e-3], dtype=torch.float16)
    sd["module.double"] = torch.tensor([[1.0 / 3, -7.25], [1e-30, 12345.678]],
                                      dtype=torch.float64)
    sd["module.scalar"] = torch.tensor(3.5)
    sd["module.bn.num_batches_tracked"] = torch.tensor(17)
    return sd


def describe(sd):
    out = collections.OrderedDict()
    for k, v in sd.items():
        out[k] = {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape),
                  "values": v.reshape(-1).tolist() if v.dtype.is_floating_point
                  else v.reshape(-1).tolist()}
    return out


def sequential_resnet20():
    """The parity ResNet-20 with shortcut A, its layers flattened into one nn.Sequential."""
    m = mpf.build("resnet20", "A", 4, 1)
    m.load_state_dict(torch.load(os.path.join(mpf.OUT, "resnet20_A_zip.pth")))
    return nn.Sequential(m.conv1, m.bn1, nn.ReLU(), *m.layer1, *m.layer2, *m.layer3,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), m.linear).eval()


def save_sequential():
    seq = sequential_resnet20()
    meta, tensors = read_gw(os.path.join(mpf.OUT, "logits.gwt"))
    shape, values = tensors[meta["resnet20_A.input"]]
    x = torch.tensor(values).reshape(shape)
    with torch.no_grad():
        logits = seq.double()(x.double()).float()
    want_shape, want = tensors["resnet20_A.logits"]
    if not torch.equal(logits, torch.tensor(want).reshape(want_shape)):
        raise SystemExit("the nn.Sequential ResNet-20 does not compute the parity logits")
    torch.save(seq.float().state_dict(), os.path.join(OUT, "resnet20_sequential.pth"))


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = tiny_state_dict()
    ckpt = {"epoch": 3, "best_prec1": 91.5, "state_dict": sd}
    torch.save(ckpt, os.path.join(OUT, "tiny_zip.pth"))
    torch.save(ckpt, os.path.join(OUT, "tiny_legacy.pth"), _use_new_zipfile_serialization=False)

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 2, 3, bias=False)
            self.bn1 = torch.nn.BatchNorm2d(2)
            self.fc = torch.nn.Linear(2, 3)

    torch.manual_seed(1)
    m = Tiny()
    with torch.no_grad():
        m.bn1.running_mean.uniform_(-1, 1)
        m.bn1.running_var.uniform_(0.5, 2)
    bare = m.state_dict(keep_vars=True)  # nn.Parameter objects -> _rebuild_parameter
    torch.save(bare, os.path.join(OUT, "tiny_bare.pth"))

    save_sequential()
    expected = {"tiny": describe(sd), "bare": describe(m.state_dict())}
    with open(os.path.join(OUT, "tiny_expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print("wrote %s (%d bytes in all) with torch %s" % (os.path.normpath(OUT), total,
                                                        torch.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
