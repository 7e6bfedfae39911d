#!/usr/bin/env python3
"""Tests for tools/convert_torch.py. Run: /usr/bin/python3 tools/test_convert_torch.py [-v]

The stdlib-only part reads the committed real checkpoints in tests/fixtures/checkpoints/
(written by tools/make_converter_fixtures.py with PyTorch 1.13) and checkpoints that this file
synthesizes byte by byte in both torch.save formats (full-size ResNet-20s, never committed).
The TorchTests class builds real CIFAR/torchvision ResNets in memory and is skipped when
PyTorch is not importable.
"""

import contextlib
import io
import json
import math
import os
import pickle
import random
import re
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import convert_torch as ct  # noqa: E402
import mutate_convert_torch as mutate  # noqa: E402
from mutate_convert_torch import p_global as _p_global, p_int as _p_int, p_str as _p_str, \
    p_tuple as _p_tuple, read_gw  # noqa: E402

SCRIPT = os.path.join(HERE, "convert_torch.py")
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures", "checkpoints")
PARITY = os.path.join(HERE, "..", "tests", "fixtures", "parity")

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except Exception:  # pragma: no cover - depends on the machine
    HAVE_TORCH = False


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


# ----------------------------------------------------------------------------------------------
# Synthesizing torch.save checkpoints without torch (pickle protocol 2 opcodes by hand)
# ----------------------------------------------------------------------------------------------

class T:
    """A tensor to synthesize: values (row-major), shape, storage dtype; optionally stored
    transposed (2-d) so that it is non-contiguous in the file."""

    def __init__(self, shape, values, dtype="float32", transposed=False):
        self.shape, self.values, self.dtype, self.transposed = tuple(shape), list(values), dtype, \
            transposed


_STORAGE = {"float32": ("FloatStorage", "f", 4), "float16": ("HalfStorage", "e", 2),
            "float64": ("DoubleStorage", "d", 8), "int64": ("LongStorage", "q", 8),
            "bfloat16": ("BFloat16Storage", "f", 2)}


def bf16(x):
    """x rounded (truncated) to bfloat16, as a float."""
    return struct.unpack("<f", struct.pack("<I", struct.unpack("<I", struct.pack("<f", x))[0]
                                           & 0xFFFF0000))[0]


def _p_value(v, tensor_cb):
    if isinstance(v, T):
        return tensor_cb(v)
    if isinstance(v, bool):
        return b"\x88" if v else b"\x89"
    if isinstance(v, int):
        return _p_int(v)
    if isinstance(v, float):
        return b"G" + struct.pack(">d", v)
    if isinstance(v, str):
        return _p_str(v)
    if isinstance(v, dict):
        head = (_p_global("collections", "OrderedDict") + b")R") if isinstance(v, OrderedDict) \
            else b"}"
        body = b"".join(_p_str(k) + _p_value(x, tensor_cb) for k, x in v.items())
        return head + (b"(" + body + b"u" if v else b"")
    raise TypeError(type(v))


def synth_checkpoint(obj, legacy=False, byteorder="little"):
    """Serializes obj (dicts of str/int/float/T) the way torch.save does; returns bytes."""
    storages = []  # (key, storage name, raw bytes, numel)

    def tensor(t):
        sname, code, isz = _STORAGE[t.dtype]
        vals = t.values
        if t.transposed:
            r, c = t.shape
            stored = [vals[i * c + j] for j in range(c) for i in range(r)]  # column-major
            stride = (1, r)
        else:
            stored = vals
            stride = tuple(int(math.prod(t.shape[i + 1:])) for i in range(len(t.shape)))
        key = str(len(storages)) if not legacy else str(94000000 + 16 * len(storages))
        bo = "<" if byteorder == "little" else ">"
        raw = struct.pack(bo + "%d%s" % (len(stored), code), *stored)
        if t.dtype == "bfloat16":  # keep the high half of each float32
            raw = b"".join(raw[i + 2:i + 4] if bo == "<" else raw[i:i + 2]
                           for i in range(0, len(raw), 4))
        storages.append((key, sname, raw, len(stored)))
        pid = [_p_str("storage"), _p_global("torch", sname), _p_str(key), _p_str("cpu"),
               _p_int(len(stored))] + ([b"N"] if legacy else [])
        args = [_p_tuple(pid) + b"Q", _p_int(0), _p_tuple([_p_int(d) for d in t.shape]),
                _p_tuple([_p_int(d) for d in stride]), b"\x89",
                _p_global("collections", "OrderedDict") + b")R"]
        return _p_global("torch._utils", "_rebuild_tensor_v2") + _p_tuple(args) + b"R"

    main = b"\x80\x02" + _p_value(obj, tensor) + b"."
    if not legacy:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            z.writestr("archive/data.pkl", main)
            z.writestr("archive/byteorder", byteorder)
            for key, _, raw, _ in storages:
                z.writestr("archive/data/" + key, raw)
            z.writestr("archive/version", "3\n")
        return buf.getvalue()
    out = [pickle.dumps(ct.LEGACY_MAGIC, protocol=2), pickle.dumps(1001, protocol=2),
           pickle.dumps({"protocol_version": 1001, "little_endian": True,
                         "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2),
           main, pickle.dumps([k for k, _, _, _ in storages], protocol=2)]
    for _, _, raw, n in storages:
        out += [struct.pack("<q", n), raw]
    return b"".join(out)


def cifar_state(arch="resnet20", shortcut="A", classes=10, in_ch=3, seed=0, head="linear",
                width=None):
    """A random state_dict (of T) with the exact names/shapes of an akamaster CIFAR ResNet (or,
    given an ImageNet arch, a torchvision one), including num_batches_tracked, in state_dict
    order."""
    rnd = random.Random(seed)
    sd = OrderedDict()
    for name, shape in ct.expected_tensors(arch, shortcut, in_ch, classes, width):
        n = int(math.prod(shape))
        if name.endswith("running_var"):
            vals = [rnd.uniform(0.5, 2.0) for _ in range(n)]
        else:
            vals = [rnd.uniform(-1, 1) for _ in range(n)]
        if head == "fc" and name.startswith("linear."):
            name = "fc." + name[len("linear."):]
        sd[name] = T(shape, vals)
        if name.endswith("running_var"):
            sd[name[:-len("running_var")] + "num_batches_tracked"] = T((), [7], "int64")
    return sd


def run_cli(*args):
    p = subprocess.run([sys.executable, SCRIPT] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


class TmpDirCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data):
        p = self.path(name)
        with open(p, "wb") as fh:
            fh.write(data)
        return p

    def assertFails(self, args, *fragments, out=None, listing=False):
        """The converter exits 1 with one line on stderr holding each fragment; with listing,
        that line may be followed by the indented lines of a name listing."""
        rc, stdout, stderr = run_cli(*args)
        self.assertEqual(rc, 1, stderr)
        self.assertNotIn("Traceback", stderr)
        lines = stderr.rstrip("\n").split("\n")
        if listing:
            self.assertLessEqual(len(lines), 2 + ct.MAX_LISTED_NAMES + 1, stderr)
            self.assertTrue(all(line.startswith("  ") for line in lines[1:]), stderr)
        else:
            self.assertEqual(len(lines), 1, stderr)
        for frag in fragments:
            self.assertIn(frag, stderr)
        if out is not None:
            self.assertFalse(os.path.exists(out), "output written despite the error")
        self.assertEqual([n for n in os.listdir(os.path.dirname(args[1]) or ".")
                          if n.endswith(".tmp")], [], "temporary file left behind")
        return stderr


# ----------------------------------------------------------------------------------------------
# Real torch checkpoints (committed fixtures)
# ----------------------------------------------------------------------------------------------

class FixtureTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(FIXTURES, "tiny_expected.json")) as f:
            cls.expected = json.load(f)

    def check(self, fname, expected, strip=True):
        path = os.path.join(FIXTURES, fname)
        sd = ct.extract_state_dict(path, ct.load_checkpoint(path))
        want = [(k[len("module."):] if strip and k.startswith("module.") else k, v)
                for k, v in expected.items() if not k.endswith("num_batches_tracked")]
        self.assertEqual(list(sd), [k for k, _ in want])  # order kept, prefix stripped
        for name, info in want:
            t = sd[name]
            self.assertEqual(t.shape, tuple(info["shape"]), name)
            self.assertEqual(t.dtype, info["dtype"], name)
            got = list(ct.tensor_values(t, name))
            self.assertEqual(got, [f32(v) for v in info["values"]], name)
            raw = ct.float32_le_bytes(t, name)
            self.assertEqual(struct.unpack("<%df" % len(got), raw), tuple(got))

    def test_zip_format(self):
        self.check("tiny_zip.pth", self.expected["tiny"])

    def test_legacy_format(self):
        self.check("tiny_legacy.pth", self.expected["tiny"])

    def test_bare_state_dict_of_parameters(self):
        self.check("tiny_bare.pth", self.expected["bare"], strip=False)

    def test_noncontiguous_layouts_really_are(self):
        path = os.path.join(FIXTURES, "tiny_zip.pth")
        sd = ct.extract_state_dict(path, ct.load_checkpoint(path))
        self.assertEqual(sd["fc.weight"].stride, (1, 6))
        self.assertEqual(sd["offset_view"].offset, 6)
        self.assertIs(sd["offset_view"].storage, sd["fc.weight"].storage)
        self.assertEqual((sd["strided"].offset, sd["strided"].stride), (1, (14, 3)))

    def test_fixtures_are_small(self):
        total = sum(os.path.getsize(os.path.join(FIXTURES, n)) for n in os.listdir(FIXTURES))
        self.assertLess(total, 300 * 1024)


class ParityFixtureTests(TmpDirCase):
    """The PyTorch parity checkpoints (tools/make_parity_fixtures.py), converted here without
    PyTorch; tests/test_parity.cpp compares the converted models' logits to PyTorch's."""

    def test_both_formats_convert_to_the_same_reduced_width_model(self):
        meta, _ = read_gw(os.path.join(PARITY, "logits.gwt"))
        models = meta["models"].split(",")
        self.assertEqual(models, ["resnet20_A", "resnet20_B", "resnet18", "resnet50"])
        for model in models:
            with self.subTest(model=model):
                outs = []
                channels = int(meta[model + ".in_channels"])
                for fmt in ("zip", "legacy"):
                    out = self.path(fmt + ".gw")
                    rc, _, err = run_cli(os.path.join(PARITY, meta[model + "." + fmt]), out,
                                         "--arch", meta[model + ".arch"],
                                         "--mean", ",".join(["0.5"] * channels),
                                         "--std", ",".join(["0.25"] * channels))
                    self.assertEqual(rc, 0, err)
                    got, tensors = read_gw(out)
                    self.assertEqual((got["arch"], got["shortcut"], got["width"]),
                                     (meta[model + ".arch"], meta[model + ".shortcut"],
                                      meta[model + ".width"]))
                    self.assertEqual(got["in_channels"], meta[model + ".in_channels"])
                    with open(out, "rb") as fh:
                        outs.append(fh.read())
                self.assertEqual(outs[0], outs[1])

    def test_fixtures_are_small(self):
        total = sum(os.path.getsize(os.path.join(PARITY, n)) for n in os.listdir(PARITY))
        self.assertLess(total, 1536 * 1024)


class FormatTests(TmpDirCase):
    def load(self, data):
        path = self.write("x.pth", data)
        return ct.extract_state_dict(path, ct.load_checkpoint(path))

    def test_big_endian_zip_and_bfloat16(self):
        vals = [1.5, -0.1, 3e-5, 1234.5678, -7.0, 0.0]
        sd = OrderedDict([("a", T((2, 3), vals)), ("b", T((3, 2), vals, transposed=True)),
                          ("c", T((6,), vals, "float64")), ("d", T((2, 3), vals, "float16")),
                          ("e", T((3, 2), vals, "bfloat16", transposed=True))])
        for bo in ("little", "big"):
            got = self.load(synth_checkpoint(sd, byteorder=bo))
            with self.subTest(byteorder=bo):
                self.assertEqual(list(ct.tensor_values(got["a"])), [f32(v) for v in vals])
                self.assertEqual(list(ct.tensor_values(got["b"])), [f32(v) for v in vals])
                self.assertEqual(list(ct.tensor_values(got["c"])), [f32(v) for v in vals])
                half = struct.unpack("<6e", struct.pack("<6e", *vals))
                self.assertEqual(list(ct.tensor_values(got["d"])), list(half))
                self.assertEqual(list(ct.tensor_values(got["e"])), [bf16(v) for v in vals])

    def test_legacy_storage_views(self):
        # old torch versions saved views of one root storage: (view_key, offset, size)
        def tensor(view, offset, size):
            pid = _p_tuple([_p_str("storage"), _p_global("torch", "FloatStorage"), _p_str("r"),
                            _p_str("cpu"), _p_int(8), view])
            return (_p_global("torch._utils", "_rebuild_tensor_v2") + _p_tuple(
                [pid + b"Q", _p_int(offset), _p_tuple([_p_int(size)]), _p_tuple([_p_int(1)]),
                 b"\x89", b"N"]) + b"R")
        main = (b"\x80\x02}(" + _p_str("whole") + tensor(b"N", 0, 8) + _p_str("view") +
                tensor(_p_tuple([_p_str("v"), _p_int(2), _p_int(5)]), 1, 3) + b"u.")
        blob = (pickle.dumps(ct.LEGACY_MAGIC, protocol=2) + pickle.dumps(1001, protocol=2) +
                pickle.dumps({"little_endian": True}, protocol=2) + main +
                pickle.dumps(["r"], protocol=2) + struct.pack("<q8f", 8, *range(8)))
        sd = self.load(blob)
        self.assertEqual(list(ct.tensor_values(sd["whole"])), [float(i) for i in range(8)])
        self.assertEqual(list(ct.tensor_values(sd["view"])), [3.0, 4.0, 5.0])
        # a view reaching past its root is refused
        bad = blob.replace(_p_int(5), _p_int(7))
        with self.assertRaisesRegex(ct.ConvertError, "corrupt checkpoint pickle"):
            self.load(bad)

    def test_optimizer_state_is_not_read(self):
        sd = cifar_state()
        ckpt = {"state_dict": sd, "optimizer": {"m": T((4,), [1.0] * 4)}}
        blob = synth_checkpoint(ckpt)
        path = self.write("x.pth", blob)
        obj = ct.load_checkpoint(path)
        self.assertIsNone(obj["optimizer"]["m"].storage.data)


# ----------------------------------------------------------------------------------------------
# End to end on synthesized full-size CIFAR checkpoints
# ----------------------------------------------------------------------------------------------

class ConvertTests(TmpDirCase):
    def convert_ok(self, ckpt, *extra, legacy=False):
        src = self.write("in.pth", synth_checkpoint(ckpt, legacy=legacy))
        out = self.path("out.gw")
        rc, stdout, stderr = run_cli(src, out, *extra)
        self.assertEqual(rc, 0, stderr)
        self.assertEqual(stderr, "")
        return read_gw(out)

    def check_tensors(self, tensors, sd):
        want = OrderedDict((("linear." + k[3:]) if k.startswith("fc.") else k, v)
                           for k, v in sd.items() if not k.endswith("num_batches_tracked"))
        self.assertEqual(list(tensors), list(want))
        for name, t in want.items():
            shape, vals = tensors[name]
            self.assertEqual(shape, t.shape, name)
            self.assertEqual(list(vals), [f32(v) for v in t.values], name)

    def test_resnet20_A_zip(self):
        sd = cifar_state("resnet20", "A")
        meta, tensors = self.convert_ok({"epoch": 5, "state_dict": sd}, "--arch", "resnet20")
        self.assertEqual(list(meta.items()), [
            ("arch", "resnet20"), ("shortcut", "A"), ("num_classes", "10"), ("in_channels", "3"),
            ("input_size", "32"), ("mean", "0.4914,0.4822,0.4465"),
            ("std", "0.247,0.2435,0.2616")])
        self.check_tensors(tensors, sd)
        self.assertEqual(len(tensors), 1 + 4 + 9 * 10 + 2)

    def test_resnet20_B_legacy_module_prefix_fc_head(self):
        sd = cifar_state("resnet20", "B", classes=100, head="fc")
        ckpt = {"model": OrderedDict(("module." + k, v) for k, v in sd.items()), "acc": 0.5}
        meta, tensors = self.convert_ok(ckpt, "--arch", "resnet20", legacy=True)
        self.assertEqual((meta["shortcut"], meta["num_classes"]), ("B", "100"))
        self.check_tensors(tensors, sd)
        self.assertIn("layer2.0.shortcut.0.weight", tensors)
        self.assertEqual(tensors["layer3.0.shortcut.0.weight"][0], (64, 32, 1, 1))

    def test_noncontiguous_float16_float64_in_a_model(self):
        sd = cifar_state("resnet20", "A", in_ch=1)
        w = sd["linear.weight"]
        sd["linear.weight"] = T(w.shape, w.values, transposed=True)
        b = sd["linear.bias"]
        sd["linear.bias"] = T(b.shape, b.values, dtype="float64")
        c = sd["conv1.weight"]
        sd["conv1.weight"] = T(c.shape, [f32(v) for v in c.values], dtype="float16")
        half = struct.unpack("<%de" % len(c.values), struct.pack("<%de" % len(c.values),
                                                                  *c.values))
        meta, tensors = self.convert_ok(
            {"state_dict": sd}, "--arch", "resnet20", "--mean", "0.286", "--std", "0.353",
            "--input-size", "28")
        self.assertEqual((meta["in_channels"], meta["input_size"], meta["mean"], meta["std"]),
                         ("1", "28", "0.286", "0.353"))
        self.assertEqual(list(tensors["conv1.weight"][1]), [f32(v) for v in half])
        self.assertEqual(list(tensors["linear.weight"][1]), [f32(v) for v in w.values])
        self.assertEqual(list(tensors["linear.bias"][1]), [f32(v) for v in b.values])

    def test_explicit_options_and_deterministic_output(self):
        sd = cifar_state("resnet20", "A")
        src = self.write("in.pth", synth_checkpoint(sd))
        outs = []
        for i in range(2):
            out = self.path("o%d.gw" % i)
            rc, _, err = run_cli(src, out, "--arch", "resnet20", "--shortcut", "A",
                                 "--num-classes", "10", "--in-channels", "3",
                                 "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25")
            self.assertEqual(rc, 0, err)
            with open(out, "rb") as fh:
                outs.append(fh.read())
        self.assertEqual(outs[0], outs[1])

    def test_replaces_existing_output(self):
        sd = cifar_state("resnet20", "A")
        src = self.write("in.pth", synth_checkpoint(sd))
        out = self.write("out.gw", b"old")
        rc, _, err = run_cli(src, out, "--arch", "resnet20")
        self.assertEqual(rc, 0, err)
        read_gw(out)


class WidthTests(TmpDirCase):
    def convert(self, sd, *extra):
        src = self.write("in.pth", synth_checkpoint({"state_dict": sd}))
        out = self.path("out.gw")
        rc, _, err = run_cli(src, out, *extra)
        self.assertEqual(rc, 0, err)
        with open(out, "rb") as fh:
            data = fh.read()
        return read_gw(out) + (data,)

    def test_reduced_cifar_width_is_inferred_and_written(self):
        sd = cifar_state("resnet20", "B", width=4)
        meta, tensors, data = self.convert(sd, "--arch", "resnet20")
        self.assertEqual(list(meta.items())[:3],
                         [("arch", "resnet20"), ("shortcut", "B"), ("width", "4")])
        self.assertEqual(tensors["conv1.weight"][0], (4, 3, 3, 3))
        self.assertEqual(tensors["layer3.0.shortcut.0.weight"][0], (16, 8, 1, 1))
        self.assertEqual(tensors["linear.weight"][0], (10, 16))
        self.assertEqual(list(tensors["layer2.1.bn2.running_var"][1]),
                         [f32(v) for v in sd["layer2.1.bn2.running_var"].values])
        self.assertEqual(self.convert(sd, "--arch", "resnet20", "--width", "4")[2], data)

    def test_reduced_imagenet_width(self):
        sd = cifar_state("resnet50", "B", width=2)
        meta, tensors, _ = self.convert(sd, "--arch", "resnet50", "--input-size", "64")
        self.assertEqual(list(meta.items())[:3],
                         [("arch", "resnet50"), ("shortcut", "B"), ("width", "2")])
        self.assertEqual(tensors["layer4.2.conv3.weight"][0], (64, 16, 1, 1))
        self.assertEqual(tensors["layer1.0.downsample.0.weight"][0], (8, 2, 1, 1))
        self.assertEqual(tensors["fc.weight"][0], (10, 64))

    def test_standard_widths_write_no_key(self):
        for arch, width in (("resnet20", 16), ("resnet18", 64)):
            with self.subTest(arch=arch):
                sd = cifar_state(arch, "B" if arch == "resnet18" else "A")
                meta, _, data = self.convert(sd, "--arch", arch)
                self.assertNotIn("width", meta)
                explicit = self.convert(sd, "--arch", arch, "--width", str(width))[2]
                self.assertEqual(explicit, data)


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------

class ErrorTests(TmpDirCase):
    def ckpt(self, sd, legacy=False, name="in.pth"):
        return self.write(name, synth_checkpoint({"state_dict": sd}, legacy=legacy))

    def test_missing_tensor(self):
        sd = cifar_state()
        del sd["layer3.2.bn2.running_var"]
        out = self.path("out.gw")
        err = self.assertFails([self.ckpt(sd), out, "--arch", "resnet20"],
                               "in.pth: tensor names do not match resnet20 (shortcut A): 1 "
                               "expected tensor missing, 0 checkpoint tensors unmatched",
                               out=out, listing=True)
        self.assertEqual(err.splitlines()[1:], [
            "  missing, expected by resnet20:   unmatched in the checkpoint:",
            "  layer3.2.bn2.running_var         (none)"])

    def test_misshaped_tensor(self):
        sd = cifar_state()
        sd["layer2.1.conv2.weight"] = T((32, 32, 1, 3), [0.0] * 32 * 32 * 3)
        out = self.path("out.gw")
        self.assertFails([self.ckpt(sd), out, "--arch", "resnet20"],
                         "tensor layer2.1.conv2.weight: expected shape (32, 32, 3, 3), "
                         "got (32, 32, 1, 3)", out=out)

    def test_unexpected_tensor(self):
        sd = cifar_state()
        sd["extra.weight"] = T((2,), [1.0, 2.0])
        out = self.path("out.gw")
        self.assertFails([self.ckpt(sd), out, "--arch", "resnet20"],
                         "0 expected tensors missing, 1 checkpoint tensor unmatched",
                         "  (none)", "extra.weight (2,)", out=out, listing=True)

    def test_wrong_depth(self):
        out = self.path("out.gw")
        self.assertFails([self.ckpt(cifar_state()), out, "--arch", "resnet32"],
                         "layer1.3.conv1.weight", out=out, listing=True)

    def test_shortcut_B_requested_for_A_weights(self):
        out = self.path("out.gw")
        self.assertFails([self.ckpt(cifar_state()), out, "--arch", "resnet20", "--shortcut", "B"],
                         "layer2.0.shortcut.0.weight", out=out, listing=True)

    def test_shortcut_A_requested_for_B_weights(self):
        out = self.path("out.gw")
        self.assertFails([self.ckpt(cifar_state(shortcut="B")), out, "--arch", "resnet20",
                          "--shortcut", "A"], "layer2.0.shortcut.0.weight (32, 16, 1, 1)",
                         out=out, listing=True)

    def test_num_classes_mismatch(self):
        out = self.path("out.gw")
        self.assertFails([self.ckpt(cifar_state()), out, "--arch", "resnet20",
                          "--num-classes", "100"],
                         "tensor linear.weight: expected shape (100, 64), got (10, 64)", out=out)

    def test_width_disagrees_with_weights(self):
        out = self.path("out.gw")
        self.assertFails([self.ckpt(cifar_state(width=4)), out, "--arch", "resnet20", "--width",
                          "8"], "--width 8 disagrees with conv1.weight, shape (4, 3, 3, 3) "
                         "(width 4)", out=out)
        self.assertFails([self.ckpt(cifar_state()), out, "--arch", "resnet20", "--width", "0"],
                         "--width must be positive", out=out)

    def test_odd_width(self):
        out = self.path("out.gw")
        self.assertFails([self.ckpt(cifar_state(shortcut="B", width=3)), out, "--arch",
                          "resnet20"], "width 3 (conv1.weight shape (3, 3, 3, 3)) is odd", out=out)

    def test_stages_of_another_width(self):
        # a reduced-width stem on standard-width stages: every stage is checked against it
        sd = cifar_state()
        small = cifar_state(width=8)
        for name in ("conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                     "bn1.running_var"):
            sd[name] = small[name]
        out = self.path("out.gw")
        self.assertFails([self.ckpt(sd), out, "--arch", "resnet20"],
                         "tensor layer1.0.conv1.weight: expected shape (8, 8, 3, 3), got "
                         "(16, 16, 3, 3)", out=out)
        sd = cifar_state("resnet18", "B", width=4)
        sd["fc.weight"] = T((10, 64), [0.0] * 640)
        self.assertFails([self.ckpt(sd), out, "--arch", "resnet18"],
                         "tensor fc.weight: expected shape (10, 32), got (10, 64)", out=out)

    def test_mean_std_count(self):
        out = self.path("out.gw")
        self.assertFails([self.ckpt(cifar_state()), out, "--arch", "resnet20", "--mean", "0.5",
                          "--std", "0.5"], "1/1 values, the model has 3 input channels", out=out)
        self.assertFails([self.ckpt(cifar_state(in_ch=1)), out, "--arch", "resnet20"],
                         "1 input channels; give --mean and --std", out=out)
        self.assertFails([self.ckpt(cifar_state()), out, "--arch", "resnet20", "--mean",
                          "0.5,0.5,0.5"], "--mean and --std must be given together", out=out)
        self.assertFails([self.ckpt(cifar_state()), out, "--arch", "resnet20", "--mean",
                          "0.5,x,0.5", "--std", "1,1,1"], "comma-separated numbers", out=out)

    def test_unknown_arch_and_bad_options(self):
        out = self.path("out.gw")
        src = self.ckpt(cifar_state())
        self.assertFails([src, out, "--arch", "resnet21"], "unknown arch 'resnet21'", out=out)
        self.assertFails([src, out, "--arch", "resnet20", "--shortcut", "C"], "A or B", out=out)
        self.assertFails([src, out, "--arch", "resnet18", "--shortcut", "A"], "CIFAR", out=out)
        self.assertFails([src, out], "--arch", out=out)

    def test_missing_input(self):
        out = self.path("out.gw")
        self.assertFails([self.path("nope.pth"), out, "--arch", "resnet20"],
                         "nope.pth: cannot read", out=out)

    def test_not_a_checkpoint(self):
        out = self.path("out.gw")
        for data, frag in ((b"", "empty file"), (b"hello world", "not a PyTorch checkpoint"),
                           (b"PK\x03\x04garbage", "not a valid zip")):
            src = self.write("bad.pth", data)
            self.assertFails([src, out, "--arch", "resnet20"], "bad.pth: " + frag, out=out)

    def test_zip_without_data_pkl(self):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("x/other.txt", "hi")
        out = self.path("out.gw")
        self.assertFails([self.write("bad.pth", buf.getvalue()), out, "--arch", "resnet20"],
                         "data.pkl", out=out)

    def test_truncated(self):
        out = self.path("out.gw")
        for legacy in (False, True):
            blob = synth_checkpoint({"state_dict": cifar_state()}, legacy=legacy)
            for cut in (len(blob) - 1, len(blob) - 5000, len(blob) // 2, 100, 30, 3):
                src = self.write("cut.pth", blob[:cut])
                self.assertFails([src, out, "--arch", "resnet20"], "cut.pth: ", out=out)

    def test_corrupt_storage_sizes(self):
        out = self.path("out.gw")
        # zip: a storage record shorter than the pickle says
        blob = synth_checkpoint({"state_dict": cifar_state()})
        zin = zipfile.ZipFile(io.BytesIO(blob))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for n in zin.namelist():
                data = zin.read(n)
                z.writestr(n, data[:-4] if n == "archive/data/3" else data)
        self.assertFails([self.write("short.pth", buf.getvalue()), out, "--arch", "resnet20"],
                         "short.pth: storage 3 has", out=out)

    def test_tensor_beyond_storage(self):
        # a tensor whose size/stride reach past its storage is caught before any data is read
        pkl = (b"\x80\x02" + _p_global("collections", "OrderedDict") + b")R(" + _p_str("w") +
               _p_global("torch._utils", "_rebuild_tensor_v2") +
               _p_tuple([_p_tuple([_p_str("storage"), _p_global("torch", "FloatStorage"),
                                   _p_str("0"), _p_str("cpu"), _p_int(4)]) + b"Q",
                         _p_int(2), _p_tuple([_p_int(4)]), _p_tuple([_p_int(1)]), b"\x89",
                         b"N"]) + b"Ru.")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("a/data.pkl", pkl)
            z.writestr("a/data/0", b"\0" * 16)
        path = self.write("oob.pth", buf.getvalue())
        sd = ct.extract_state_dict(path, ct.load_checkpoint(path))
        with self.assertRaisesRegex(ct.ConvertError, "reaches element 5 of a storage with 4"):
            ct.tensor_values(sd["w"], "w")

    def test_non_tensor_entry(self):
        sd = cifar_state()
        sd2 = OrderedDict([("bn1.weight", sd["bn1.weight"]), ("conv1.weight", 3)])
        out = self.path("out.gw")
        self.assertFails([self.ckpt(sd2), out, "--arch", "resnet20"],
                         "state_dict entry conv1.weight is a int, not a tensor", out=out)

    def test_no_state_dict(self):
        out = self.path("out.gw")
        src = self.write("x.pth", synth_checkpoint({"epoch": 1, "optimizer": {}}))
        self.assertFails([src, out, "--arch", "resnet20"],
                         "no state_dict found (top-level keys: epoch, optimizer)", out=out)

    def test_failed_conversion_keeps_old_output(self):
        sd = cifar_state()
        del sd["linear.bias"]
        out = self.write("out.gw", b"previous")
        self.assertFails([self.ckpt(sd), out, "--arch", "resnet20"], "linear.bias",
                         listing=True)
        with open(out, "rb") as fh:
            self.assertEqual(fh.read(), b"previous")

    def test_unwritable_output(self):
        rc, _, err = run_cli(self.ckpt(cifar_state()), self.path("no/such/dir/out.gw"),
                             "--arch", "resnet20")
        self.assertEqual(rc, 1)
        self.assertIn("out.gw: cannot write", err)
        self.assertNotIn("Traceback", err)


# ----------------------------------------------------------------------------------------------
# Malicious pickles
# ----------------------------------------------------------------------------------------------

class MaliciousTests(TmpDirCase):
    def setUp(self):
        super().setUp()
        self.marker = self.path("pwned")

    def evil_pickles(self):
        cmd = "touch " + self.marker
        # the classic: os.system(cmd) via GLOBAL + REDUCE
        yield "os.system", b"\x80\x02cos\nsystem\n(" + _p_str(cmd) + b"tR."
        # via STACK_GLOBAL (protocol 4)
        yield "posix.system", pickle.dumps(_Evil(cmd), protocol=4)
        # builtins.eval hidden inside an otherwise valid state_dict
        yield "builtins.eval", (b"\x80\x02" + _p_global("collections", "OrderedDict") + b")R(" +
                                _p_str("w") + _p_global("builtins", "eval") +
                                _p_tuple([_p_str("__import__('os').system(%r)" % cmd)]) +
                                b"Ru.")
        # a nn.Module class in the checkpoint
        yield "torch.nn.modules.conv.Conv2d", (b"\x80\x02" + _p_global(
            "torch.nn.modules.conv", "Conv2d") + b")\x81.")
        # INST opcode
        yield "subprocess.call", (b"(" + b"S'touch " + self.marker.encode() + b"'\n" +
                                  b"isubprocess\ncall\n.")

    def test_refused_in_zip_and_legacy(self):
        out = self.path("out.gw")
        for qualname, pkl in self.evil_pickles():
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                z.writestr("archive/data.pkl", pkl)
            legacy = (pickle.dumps(ct.LEGACY_MAGIC, protocol=2) + pickle.dumps(1001, protocol=2)
                      + pickle.dumps({"little_endian": True}, protocol=2) + pkl)
            for name, data in (("evil_zip.pth", buf.getvalue()), ("evil_legacy.pth", legacy),
                               ("evil_raw.pth", pkl if pkl[:1] == b"\x80" else b"\x80\x02" + pkl)):
                src = self.write(name, data)
                self.assertFails([src, out, "--arch", "resnet20"],
                                 "%s: refusing to load global %s (checkpoints are untrusted)"
                                 % (name, qualname), out=out)
                self.assertFalse(os.path.exists(self.marker), "the pickle was executed")

    def test_refused_in_sys_info(self):
        evil = b"\x80\x02cos\nsystem\n(" + _p_str("touch " + self.marker) + b"tR."
        data = pickle.dumps(ct.LEGACY_MAGIC, protocol=2) + pickle.dumps(1001, protocol=2) + evil
        out = self.path("out.gw")
        self.assertFails([self.write("e.pth", data), out, "--arch", "resnet20"],
                         "refusing to load global os.system", out=out)
        self.assertFalse(os.path.exists(self.marker))

    def test_allowed_callables_reject_bad_arguments(self):
        out = self.path("out.gw")
        bad = [
            # _rebuild_tensor_v2 with a non-storage
            _p_global("torch._utils", "_rebuild_tensor_v2") + _p_tuple(
                [_p_str("x"), _p_int(0), b")", b")", b"\x89", b"N"]) + b"R",
            # a storage type called as a function
            _p_global("torch", "FloatStorage") + _p_tuple([_p_int(10)]) + b"R",
            # BUILD (setattr) on the shared stand-ins for torch globals
            _p_global("torch", "FloatStorage") + b"}(" + _p_str("itemsize") + _p_int(1) + b"ub",
            _p_global("torch._utils", "_rebuild_tensor_v2") + b"N}(" + _p_str("__defaults__") +
            b")u\x86b",
            # _rebuild_from_type_v2 with a function that is not a tensor rebuild
            _p_global("torch._tensor", "_rebuild_from_type_v2") + _p_tuple(
                [_p_global("collections", "OrderedDict"), _p_global("torch", "Tensor"), b")",
                 b"}"]) + b"R",
            # negative sizes
            _p_global("torch._utils", "_rebuild_tensor_v2") + _p_tuple(
                [_p_tuple([_p_str("storage"), _p_global("torch", "FloatStorage"), _p_str("0"),
                           _p_str("cpu"), _p_int(4)]) + b"Q", _p_int(0),
                 _p_tuple([_p_int(-4)]), _p_tuple([_p_int(1)]), b"\x89", b"N"]) + b"R",
        ]
        for i, v in enumerate(bad):
            pkl = b"\x80\x02}(" + _p_str("w") + v + b"u."
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                z.writestr("archive/data.pkl", pkl)
                z.writestr("archive/data/0", b"\0" * 16)
            self.assertFails([self.write("b%d.pth" % i, buf.getvalue()), out, "--arch",
                              "resnet20"], "b%d.pth: corrupt checkpoint pickle" % i, out=out)


class _Evil:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


# ----------------------------------------------------------------------------------------------
# Hostile and damaged checkpoints: limits checked before anything is built
# ----------------------------------------------------------------------------------------------

class PickleLimitTests(unittest.TestCase):
    """check_pickle in this process: each limit holds exactly at its value."""

    def assertRefused(self, pkl, fragment):
        with self.assertRaisesRegex(ct.PickleLimit, fragment):
            ct.check_pickle(pkl)

    def test_python_pickles_pass_whole(self):
        shared = {"t": (1, 2.5, "x"), "b": b"\0" * 300}
        obj = {"a": [shared, shared, {1, 2}, frozenset([3])], "big": 2 ** 200, "neg": -7,
               "s": "é" * 300, "l": list(range(3000)), "d": OrderedDict(a=None, b=True)}
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            data = pickle.dumps(obj, protocol=protocol) + b"trailing"
            self.assertEqual(ct.check_pickle(data), len(data) - len(b"trailing"), protocol)

    def test_depth_limit(self):
        self.assertEqual(ct.check_pickle(b")" + b"\x85" * (ct.MAX_PICKLE_DEPTH - 1) + b"."),
                         ct.MAX_PICKLE_DEPTH + 1)
        self.assertRefused(b")" + b"\x85" * ct.MAX_PICKLE_DEPTH + b".", "nesting deeper than")

    def test_objects_count_every_memo_fetch(self):
        # level n of the laughs is a tree of 2**(n+1) - 1 objects
        fits = max(n for n in range(40) if 2 ** (n + 1) - 1 <= ct.MAX_PICKLE_OBJECTS)
        ct.check_pickle(mutate._laughs(fits) + b".")
        self.assertRefused(mutate._laughs(fits + 1) + b".", "more than 10000000 objects")

    def test_object_changed_after_use_refused(self):
        # a cycle through another object: `inner` is built around `outer` before `outer`
        # gets its items, so outer's size would no longer be what inner counted
        outer = []
        outer.append([outer])
        self.assertRefused(pickle.dumps(outer, protocol=2), "changed after it was used")
        loop = []
        loop.append(loop)  # a list holding only itself changes nothing after its use
        ct.check_pickle(pickle.dumps(loop, protocol=2))

    def test_integer_limits(self):
        ct.check_pickle(b"\x8a\x20" + b"\x01" * 32 + b".")
        self.assertRefused(b"\x8a\x21" + b"\x01" * 33 + b".", "an integer of 33 bytes")
        ct.check_pickle(b"I" + b"9" * 80 + b"\n.")
        self.assertRefused(b"I" + b"9" * 81 + b"\n.", "an integer of 81 digits")

    def test_lengths_and_ends(self):
        self.assertRefused(b"X\x05\x00\x00\x00abc.", "a 5-byte string with 4 bytes left")
        self.assertRefused(b"]r\x00\x00\x01\x00.", "memo index 65536 out of range")
        self.assertRefused(b"h\x00.", "memo entry 0 fetched before it is stored")
        self.assertRefused(b"\xff.", "unknown opcode 0xff")
        for cut in (b"", b"X\x04\x00", b"I12", b"]"):
            with self.assertRaises(EOFError):
                ct.check_pickle(cut)


class HostileTests(TmpDirCase):
    """Each class of mutate_convert_torch.hostile_checkpoints(), converted in a process of its
    own: exit 1, one line naming the file and the class's message, no hang, nothing run."""
    CLASSES = {"nesting": ("deep",), "memo reuse": ("laughs", "self-appending"),
               "integers": ("LONG", "INT of"), "lengths": ("BIN", "memo index", "text line"),
               "zip": ("zip bomb", "declaring"), "code": ("GLOBAL", "INST", "OBJ", "EXT1")}

    def check(self, kind):
        cases = [case for case in mutate.hostile_checkpoints()
                 if any(word in case[0] for word in self.CLASSES[kind])]
        self.assertGreaterEqual(len(cases), 3)
        for i, (label, data, fragment) in enumerate(cases):
            with self.subTest(label):
                self.assertIsNone(mutate.run_case(self.dir, i, data, fragment, None))

    def test_deep_nesting(self):
        self.check("nesting")

    def test_memo_reuse(self):
        self.check("memo reuse")

    def test_huge_integers(self):
        self.check("integers")

    def test_giant_declared_lengths(self):
        self.check("lengths")

    def test_zip_bombs_and_lying_sizes(self):
        self.check("zip")

    def test_code_is_never_run(self):
        self.check("code")

    def test_every_hostile_case_is_in_a_class(self):
        words = [w for ws in self.CLASSES.values() for w in ws]
        for label, _, _ in mutate.hostile_checkpoints():
            self.assertTrue(any(w in label for w in words), label)


class MutationTests(unittest.TestCase):
    def test_flipped_and_truncated_real_checkpoints(self):
        count, problems = mutate.run(hostile=False)
        self.assertEqual(count, 2 * (mutate.FLIPS_PER_BASE + mutate.TRUNCATIONS_PER_BASE))
        self.assertEqual(problems, [])


class MainTests(unittest.TestCase):
    """Failures that no checkpoint should cause still end in one line, in this process."""

    def run_main(self, error):
        def fail(path):
            raise error
        saved, ct.load_checkpoint = ct.load_checkpoint, fail
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                rc = ct.main(["in.pth", "out.gw", "--arch", "resnet20"])
        finally:
            ct.load_checkpoint = saved
        return rc, stderr.getvalue()

    def test_memory_recursion_and_bugs(self):
        for error, message in ((MemoryError(), "in.pth: out of memory while converting\n"),
                               (RecursionError(), "in.pth: checkpoint nested too deeply to "
                                                  "convert\n"),
                               (KeyError("x"), "in.pth: cannot convert (unexpected KeyError: "
                                               "'x')\n")):
            self.assertEqual(self.run_main(error), (1, message))


# ----------------------------------------------------------------------------------------------
# --rename
# ----------------------------------------------------------------------------------------------

def readme_renames():
    """The --rename arguments of the README's nn.Sequential example."""
    with open(os.path.join(HERE, "..", "README.md")) as f:
        text = f.read()
    section = text[text.index("## Converting a PyTorch checkpoint"):]
    return re.findall(r"--rename '([^']+)'", section.split("tools/convert_torch.py seq.pth")[1])


def sequential_name(name):
    """The nn.Sequential name of an akamaster ResNet-20 tensor (the README's layout)."""
    stem = {"conv1": "0", "bn1": "1", "linear": "14"}
    head, rest = name.split(".", 1)
    if head in stem:
        return stem[head] + "." + rest
    block, rest = rest.split(".", 1)  # layer<stage>.<block>.<rest>
    return "%d.%s" % (3 + 3 * (int(head[-1]) - 1) + int(block), rest)


class RenameTests(TmpDirCase):
    SEQUENTIAL = os.path.join(FIXTURES, "resnet20_sequential.pth")

    def rename_args(self):
        return [a for r in readme_renames() for a in ("--rename", r)]

    def test_readme_example(self):
        self.assertEqual(len(readme_renames()), 12)
        # converts exactly as the parity checkpoint it was made from; tests/test_parity.cpp
        # compares that one's genie logits to PyTorch's
        outs = []
        for src, extra in ((self.SEQUENTIAL, self.rename_args()),
                           (os.path.join(PARITY, "resnet20_A_zip.pth"), [])):
            out = self.path("%d.gw" % len(outs))
            rc, _, err = run_cli(src, out, *mutate.ARGS, *extra)
            self.assertEqual(rc, 0, err)
            with open(out, "rb") as fh:
                outs.append(fh.read())
        self.assertEqual(outs[0], outs[1])

    def test_without_renames_the_names_are_listed(self):
        out = self.path("out.gw")
        err = self.assertFails([self.SEQUENTIAL, out, *mutate.ARGS], "resnet20_sequential.pth: "
                               "tensor names do not match resnet20 (shortcut A): 97 expected "
                               "tensors missing, 97 checkpoint tensors unmatched", out=out,
                               listing=True)
        lines = err.splitlines()
        self.assertEqual(lines[1].split(), ["missing,", "expected", "by", "resnet20:",
                                            "unmatched", "in", "the", "checkpoint:"])
        self.assertEqual(lines[2].split(), ["conv1.weight", "0.weight", "(4,", "1,", "3,", "3)"])
        self.assertEqual(lines[-1].split(), ["...", "and", "77", "more", "...", "and", "77",
                                             "more"])
        self.assertEqual(len(lines), 1 + 1 + ct.MAX_LISTED_NAMES + 1)

    def test_synthesized_sequential_in_both_formats(self):
        sd = cifar_state("resnet20", "A")
        seq = OrderedDict((sequential_name(k), v) for k, v in sd.items())
        self.assertIn("11.bn2.running_var", seq)
        for legacy in (False, True):
            src = self.write("seq.pth", synth_checkpoint({"model": seq}, legacy=legacy))
            out = self.path("out.gw")
            rc, _, err = run_cli(src, out, "--arch", "resnet20", *self.rename_args())
            self.assertEqual(rc, 0, err)
            _, tensors = read_gw(out)
            self.assertEqual(list(tensors)[:2], ["conv1.weight", "bn1.weight"])
            self.assertEqual(list(tensors["layer3.2.bn2.running_var"][1]),
                             [f32(v) for v in sd["layer3.2.bn2.running_var"].values])

    def test_bad_rules(self):
        out = self.path("out.gw")
        src = self.write("in.pth", synth_checkpoint(cifar_state()))
        for rule, fragment in (("nothing", "--rename 'nothing': expected REGEX=REPLACEMENT"),
                               ("=x", "expected REGEX=REPLACEMENT"),
                               ("(=x", "--rename '(=x': missing ), unterminated subpattern"),
                               ("a=\\2", "invalid group reference 2"),
                               ("^.*$=", "--rename turns conv1.weight into an empty name"),
                               ("^bn1=conv1", "--rename turns both conv1.weight and "
                                              "bn1.weight into conv1.weight")):
            with self.subTest(rule):
                self.assertFails([src, out, "--arch", "resnet20", "--rename", rule], fragment,
                                 out=out)

    def test_rules_apply_in_order_with_groups(self):
        sd = OrderedDict(("net." + k.replace("layer", "stage"), v) for k, v in
                         cifar_state().items())
        src = self.write("in.pth", synth_checkpoint({"state_dict": sd}))
        out = self.path("out.gw")
        rc, _, err = run_cli(src, out, "--arch", "resnet20", "--rename", r"^net\.=",
                             "--rename", r"^stage(\d)=layer\1")
        self.assertEqual(rc, 0, err)
        self.assertIn("layer3.2.conv2.weight", read_gw(out)[1])


# ----------------------------------------------------------------------------------------------
# Architecture tables
# ----------------------------------------------------------------------------------------------

class ArchTests(unittest.TestCase):
    def params(self, arch, shortcut="A", classes=10, in_ch=3):
        return sum(int(math.prod(s)) for n, s in ct.expected_tensors(arch, shortcut, in_ch, classes)
                   if not n.endswith(("running_mean", "running_var")))

    def test_parameter_counts(self):
        # the published parameter counts of these networks
        self.assertEqual(self.params("resnet20"), 269722)
        self.assertEqual(self.params("resnet32"), 464154)
        self.assertEqual(self.params("resnet44"), 658586)
        self.assertEqual(self.params("resnet56"), 853018)
        self.assertEqual(self.params("resnet18", classes=1000), 11689512)
        self.assertEqual(self.params("resnet34", classes=1000), 21797672)
        self.assertEqual(self.params("resnet50", classes=1000), 25557032)

    def test_width_scales_every_stage(self):
        for arch in ("resnet20", "resnet56", "resnet18", "resnet50"):
            self.assertEqual(ct.expected_tensors(arch, "B", 3, 10),
                             ct.expected_tensors(arch, "B", 3, 10, ct.standard_width(arch)))
        # conv parameters scale with width^2: a quarter of the width, a sixteenth of them
        for arch in ("resnet20", "resnet34", "resnet50"):
            convs = [(n, s) for n, s in ct.expected_tensors(arch, "B", 3, 10) if len(s) == 4]
            w = ct.standard_width(arch)
            small = [(n, s) for n, s in ct.expected_tensors(arch, "B", 3, 10, w // 4)
                     if len(s) == 4]
            self.assertEqual([n for n, _ in small], [n for n, _ in convs])
            for (n, s), (_, t) in zip(convs[1:], small[1:]):
                self.assertEqual((t[0] * 4, t[1] * 4, t[2:]), (s[0], s[1], s[2:]), n)

    def test_shortcut_B_adds_two_projections(self):
        a = dict(ct.expected_tensors("resnet56", "A", 3, 10))
        b = dict(ct.expected_tensors("resnet56", "B", 3, 10))
        self.assertEqual(sorted(set(b) - set(a)), sorted(
            ["layer%d.0.shortcut.0.weight" % i for i in (2, 3)] +
            ["layer%d.0.shortcut.1.%s" % (i, p) for i in (2, 3)
             for p in ("weight", "bias", "running_mean", "running_var")]))


# ----------------------------------------------------------------------------------------------
# With PyTorch: real models
# ----------------------------------------------------------------------------------------------

def _cifar_resnet(n, shortcut, num_classes=10, in_ch=3):
    """akamaster/pytorch_resnet_cifar10's resnet.py, option A (LambdaLayer) or B."""
    import torch.nn as nn
    import torch.nn.functional as F

    class LambdaLayer(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x):
            return self.fn(x)

    class BasicBlock(nn.Module):
        def __init__(self, in_planes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.shortcut = nn.Sequential()
            if stride != 1 or in_planes != planes:
                if shortcut == "A":
                    self.shortcut = LambdaLayer(lambda x: F.pad(
                        x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4)))
                else:
                    self.shortcut = nn.Sequential(
                        nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                        nn.BatchNorm2d(planes))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            k = (n - 2) // 6
            self.in_planes = 16
            self.conv1 = nn.Conv2d(in_ch, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.layer1 = self._make(16, k, 1)
            self.layer2 = self._make(32, k, 2)
            self.layer3 = self._make(64, k, 2)
            self.linear = nn.Linear(64, num_classes)

        def _make(self, planes, k, stride):
            layers = []
            for s in [stride] + [1] * (k - 1):
                layers.append(BasicBlock(self.in_planes, planes, s))
                self.in_planes = planes
            return nn.Sequential(*layers)

    return ResNet()


@unittest.skipUnless(HAVE_TORCH, "PyTorch is not available")
class TorchTests(TmpDirCase):
    def randomize(self, model):
        import torch
        torch.manual_seed(0)
        with torch.no_grad():
            for name, t in model.state_dict().items():
                if t.dtype.is_floating_point:
                    if name.endswith("running_var"):
                        t.uniform_(0.5, 2)
                    else:
                        t.normal_()
        return model

    def check(self, sd, meta, tensors, rename_fc=False):
        want = [(("linear." + k[3:]) if rename_fc and k.startswith("fc.") else k, v)
                for k, v in sd.items() if not k.endswith("num_batches_tracked")]
        self.assertEqual(list(tensors), [k for k, _ in want])
        for name, v in want:
            shape, data = tensors[name]
            self.assertEqual(shape, tuple(v.shape), name)
            self.assertEqual(data, v.float().contiguous().numpy().astype("<f4").tobytes(), name)

    def convert(self, obj, legacy, *args):
        import torch
        src = self.path("m.pth")
        torch.save(obj, src, _use_new_zipfile_serialization=not legacy)
        out = self.path("m.gw")
        rc, _, err = run_cli(src, out, *args)
        self.assertEqual(rc, 0, err)
        return read_gw(out, raw=True)

    def test_cifar_resnets(self):
        import torch
        for n, shortcut, legacy in ((20, "A", False), (20, "B", True), (32, "B", False),
                                    (56, "A", True)):
            with self.subTest(n=n, shortcut=shortcut, legacy=legacy):
                model = self.randomize(_cifar_resnet(n, shortcut, num_classes=100))
                sd = model.state_dict()
                self.assertEqual([(k, tuple(v.shape)) for k, v in sd.items()
                                  if not k.endswith("num_batches_tracked")],
                                 ct.expected_tensors("resnet%d" % n, shortcut, 3, 100))
                wrapped = torch.nn.DataParallel(model).state_dict()  # 'module.' prefix
                meta, tensors = self.convert({"epoch": 1, "state_dict": wrapped}, legacy,
                                             "--arch", "resnet%d" % n)
                self.assertEqual((meta["shortcut"], meta["num_classes"]), (shortcut, "100"))
                self.check(sd, meta, tensors)

    def test_cifar_half_and_double(self):
        model = self.randomize(_cifar_resnet(20, "A", in_ch=1))
        for dt in ("half", "double"):
            m = getattr(model, dt)()
            meta, tensors = self.convert(m.state_dict(), False, "--arch", "resnet20",
                                         "--mean", "0.5", "--std", "0.25")
            self.check(m.state_dict(), meta, tensors)

    def test_noncontiguous_parameters(self):
        import torch
        model = self.randomize(_cifar_resnet(20, "B"))
        with torch.no_grad():
            # make conv1 and linear weights non-contiguous views of bigger storages
            w = model.conv1.weight.detach().permute(3, 2, 1, 0).contiguous().permute(3, 2, 1, 0)
            model.conv1.weight = torch.nn.Parameter(w)
            big = torch.randn(64, 20)
            model.linear.weight = torch.nn.Parameter(big.t()[2:12])
        sd = model.state_dict()
        self.assertFalse(sd["conv1.weight"].is_contiguous())
        self.assertFalse(sd["linear.weight"].is_contiguous())
        for legacy in (False, True):
            meta, tensors = self.convert({"model": sd}, legacy, "--arch", "resnet20")
            self.check(sd, meta, tensors)

    def test_parity_fixture_models_have_genie_names_and_shapes(self):
        import torchvision
        import make_parity_fixtures as mpf
        for arch in ("resnet18", "resnet34", "resnet50"):
            want = [(k, tuple(v.shape)) for k, v in
                    getattr(torchvision.models, arch)(num_classes=10).state_dict().items()]
            got = [(k, tuple(v.shape)) for k, v in mpf.build(arch, "B", 64, 3).state_dict().items()]
            self.assertEqual(got, want, arch)  # at the standard width: torchvision itself
        for n, shortcut in ((20, "A"), (20, "B"), (56, "B")):
            want = [(k, tuple(v.shape)) for k, v in _cifar_resnet(n, shortcut).state_dict().items()]
            got = [(k, tuple(v.shape)) for k, v in
                   mpf.build("resnet%d" % n, shortcut, 16, 3).state_dict().items()]
            self.assertEqual(got, want, n)
        for arch, shortcut, width in (("resnet20", "A", 4), ("resnet20", "B", 6),
                                      ("resnet18", "B", 4), ("resnet50", "B", 2)):
            got = [(k, tuple(v.shape)) for k, v in
                   mpf.build(arch, shortcut, width, 1).state_dict().items()
                   if not k.endswith("num_batches_tracked")]
            self.assertEqual(got, ct.expected_tensors(arch, shortcut, 1, 10, width), arch)

    def test_sequential_fixture_is_a_flat_resnet20_with_the_parity_logits(self):
        import torch
        import make_converter_fixtures as mcf
        m = _cifar_resnet(20, "A")  # akamaster's own modules, flattened
        seq = torch.nn.Sequential(m.conv1, m.bn1, torch.nn.ReLU(), *m.layer1, *m.layer2,
                                  *m.layer3, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                  m.linear)
        names = OrderedDict((k, None) for k in seq.state_dict()
                            if not k.endswith("num_batches_tracked"))
        renamed = ct.rename_tensors("seq", names, [ct.parse_rename(r) for r in readme_renames()])
        self.assertEqual(list(renamed), [n for n, _ in ct.expected_tensors("resnet20", "A", 3, 10)])
        fixture = mcf.sequential_resnet20()
        fixture.load_state_dict(torch.load(RenameTests.SEQUENTIAL))
        meta, tensors = read_gw(os.path.join(PARITY, "logits.gwt"))
        shape, values = tensors[meta["resnet20_A.input"]]
        with torch.no_grad():
            logits = fixture.double()(torch.tensor(values).reshape(shape).double()).float()
        want_shape, want = tensors["resnet20_A.logits"]
        self.assertTrue(torch.equal(logits, torch.tensor(want).reshape(want_shape)))

    def test_torchvision_resnets(self):
        import torchvision
        for arch in ("resnet18", "resnet34", "resnet50"):
            m = getattr(torchvision.models, arch)(num_classes=1000)
            self.assertEqual([(k, tuple(v.shape)) for k, v in m.state_dict().items()
                              if not k.endswith("num_batches_tracked")],
                             ct.expected_tensors(arch, "B", 3, 1000), arch)
        m = self.randomize(torchvision.models.resnet18(num_classes=10))
        meta, tensors = self.convert(m.state_dict(), False, "--arch", "resnet18")
        self.assertEqual(list(meta.items()), [
            ("arch", "resnet18"), ("shortcut", "B"), ("num_classes", "10"), ("in_channels", "3"),
            ("input_size", "224"), ("mean", "0.485,0.456,0.406"), ("std", "0.229,0.224,0.225")])
        self.check(m.state_dict(), meta, tensors)


if __name__ == "__main__":
    unittest.main()
