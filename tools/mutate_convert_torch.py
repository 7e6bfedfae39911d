#!/usr/bin/env python3
"""A bounded mutation test of tools/convert_torch.py's checkpoint reader.

    python3 tools/mutate_convert_torch.py [--seed N] [-v]

tools/test_convert_torch.py runs it too (so `make test` does). It converts, each in its own
process with a timeout:
  - real PyTorch checkpoints (tests/fixtures/parity/resnet20_A_{zip,legacy}.pth) with seeded
    random byte flips and truncations;
  - hostile checkpoints (hostile_checkpoints()): deep nesting, exponential memo reuse ("billion
    laughs"), huge integers, giant declared lengths, zip bombs, pickles that reach for
    os.system, eval, subprocess.Popen, ...
Every case must end in a correct conversion (exit 0, the names and shapes of the unmutated
checkpoint) or in exit 1 with one message on stderr that names the file (one line; a name
listing may follow, indented) and no traceback; never a hang or a signal. Hostile cases must
fail with their own message. Stdlib only; 135 cases, about 15 s on two cores.
"""

import argparse
import io
import os
import random
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "convert_torch.py")
PARITY = os.path.join(HERE, "..", "tests", "fixtures", "parity")
BASES = ("resnet20_A_zip.pth", "resnet20_A_legacy.pth")
ARGS = ("--arch", "resnet20", "--mean", "0.5", "--std", "0.25")  # a 1-channel model
SEED = 15
FLIPS_PER_BASE = 30
TRUNCATIONS_PER_BASE = 8
TIMEOUT_S = 30
LEGACY_HEADER = (b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."  # the magic number
                 b"\x80\x02M\xe9\x03."                            # protocol 1001
                 b"\x80\x02}q\x00.")                              # sys_info


# ----------------------------------------------------------------------------------------------
# Pickle opcodes by hand (protocol 2), shared with tools/test_convert_torch.py
# ----------------------------------------------------------------------------------------------

def p_str(s):
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def p_int(i):
    return b"J" + struct.pack("<i", i)


def p_global(mod, name):
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def p_tuple(items):
    return b"(" + b"".join(items) + b"t"


def stack_global(mod, name):
    """Protocol 4's STACK_GLOBAL: module and name as strings on the stack."""
    return (b"\x8c" + bytes([len(mod)]) + mod.encode() + b"\x8c" + bytes([len(name)]) +
            name.encode() + b"\x93")


# ----------------------------------------------------------------------------------------------
# Hostile checkpoints
# ----------------------------------------------------------------------------------------------

def _zip(records, compress=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        for name, data in records:
            z.writestr(name, data)
    return buf.getvalue()


def declare_size(archive, name, size):
    """Rewrites the sizes that the zip's central directory declares for record `name`."""
    entry = archive.find(b"PK\x01\x02")
    while entry >= 0:
        name_len = struct.unpack_from("<H", archive, entry + 28)[0]
        if archive[entry + 46:entry + 46 + name_len] == name.encode():
            return (archive[:entry + 20] + struct.pack("<II", size, size) +
                    archive[entry + 28:])
        entry = archive.find(b"PK\x01\x02", entry + 46)
    raise KeyError(name)


def _laughs(levels):
    """A tuple of two references to a tuple of two references to ...: 2**levels leaves."""
    out = b")q\x00"
    for i in range(1, levels + 1):
        out += b"h" + bytes([i - 1]) + b"h" + bytes([i - 1]) + b"\x86q" + bytes([i])
    return out


def hostile_values():
    """(label, the opcodes of one hostile object, the fragment the converter's message must
    hold). Built, each would crash, hang or run code: the checkpoint uses it as a dict key,
    which Python hashes (a deep tuple's hash overflows the C stack, an exponentially shared
    one's never ends) and the converter's messages used to print."""
    deep = "nesting deeper than 100 levels"
    laughs = "more than 10000000 objects"
    out = [
        ("deep tuple", b")" + b"\x85" * 10 ** 6, deep),
        ("deep marks", b"(" * 10 ** 4 + b"t" * 10 ** 4, deep),
        ("deep lists", b"]" * 10 ** 4 + b"a" * (10 ** 4 - 1), deep),
        ("billion laughs", _laughs(60), laughs),
        ("list laughs", b"]q\x00" + b"".join(b"]q%c(h%ch%ce" % (i, i - 1, i - 1)
                                             for i in range(1, 60)), laughs),
        ("self-appending list", b"]q\x00h\x00a" + b"h\x00h\x00a0" * 40,
         "changed after it was used"),
        ("LONG4 of 10^6 bytes", b"\x8b" + struct.pack("<i", 10 ** 6) + b"\x01" * 10 ** 6,
         "an integer of 1000000 bytes"),
        ("LONG1 of 255 bytes", b"\x8a\xff" + b"\x7f" * 255, "an integer of 255 bytes"),
        ("INT of 5000 digits", b"I" + b"9" * 5000 + b"\n", "an integer of 5000 digits"),
        ("LONG of 5000 digits", b"L" + b"7" * 5000 + b"L\n", "an integer of 5001 digits"),
        ("BINUNICODE of 4 GiB", b"X\xff\xff\xff\xffabc", "a 4294967295-byte string"),
        ("BINBYTES8 of 2^62", b"\x8e" + struct.pack("<Q", 2 ** 62) + b"x",
         "a 4611686018427387904-byte string"),
        ("BINSTRING of -5 bytes", b"T" + struct.pack("<i", -5), "a negative length -5"),
        ("memo index 2^32-1", b")r\xff\xff\xff\xff", "memo index 4294967295 out of"),
        ("text line of 65 KiB", b"F" + b"1" * (1 << 16 | 1) + b"\n",
         "a text argument longer than"),
        ("EXT1", b"\x82\x01", "corrupt checkpoint pickle"),
    ]
    cmd = p_str("touch pwned")
    for mod, name in (("os", "system"), ("posix", "system"), ("nt", "system"),
                      ("builtins", "eval"), ("builtins", "exec"), ("__builtin__", "eval"),
                      ("builtins", "getattr"), ("subprocess", "Popen"),
                      ("subprocess", "check_output")):
        refused = "refusing to load global %s.%s" % (mod, name)
        out += [("GLOBAL %s.%s + REDUCE" % (mod, name),
                 p_global(mod, name) + p_tuple([cmd]) + b"R", refused),
                ("STACK_GLOBAL %s.%s + REDUCE" % (mod, name),
                 stack_global(mod, name) + p_tuple([cmd]) + b"R", refused)]
    out += [
        ("INST subprocess.call", b"(" + cmd + b"isubprocess\ncall\n",
         "refusing to load global subprocess.call"),
        ("OBJ os.system", b"(" + p_global("os", "system") + cmd + b"o",
         "refusing to load global os.system"),
        ("NEWOBJ subprocess.Popen", p_global("subprocess", "Popen") + p_tuple([cmd]) + b"\x81",
         "refusing to load global subprocess.Popen"),
    ]
    return out


def as_dict_key(value):
    """A pickle of {value: None}."""
    return b"\x80\x02}(" + value + b"Nu."


def hostile_checkpoints():
    """(label, checkpoint bytes, fragment): each hostile value, as a dict key, in the data.pkl
    of a zip checkpoint (deflated, as a bomb would be) and as the state_dict pickle of a legacy one
    (the refused globals, a single check, alternately in one of them); then zip bombs and
    lying zip headers."""
    out = []
    for i, (label, value, fragment) in enumerate(hostile_values()):
        pkl = as_dict_key(value)
        formats = ("zip", "legacy") if "global" not in fragment else (("zip", "legacy")[i % 2],)
        if "zip" in formats:
            out.append(("zip: " + label, _zip([("archive/data.pkl", pkl)], zipfile.ZIP_DEFLATED),
                        fragment))
        if "legacy" in formats:
            out.append(("legacy: " + label, LEGACY_HEADER + pkl, fragment))
    tensor = (p_global("torch._utils", "_rebuild_tensor_v2") + p_tuple([
        p_tuple([p_str("storage"), p_global("torch", "FloatStorage"), p_str("0"), p_str("cpu"),
                 p_int(1 << 24)]) + b"Q", p_int(0), p_tuple([p_int(1 << 24)]),
        p_tuple([p_int(1)]), b"\x89", b"N"]) + b"R")
    small_pkl = b"\x80\x02}(" + p_str("w") + tensor + b"u."
    bomb = _zip([("archive/data.pkl", small_pkl), ("archive/data/0", bytes(64 << 20))],
                zipfile.ZIP_DEFLATED)
    out.append(("zip bomb: 64 MiB of zeros deflated", bomb, "(a zip bomb?)"))
    three = _zip([("archive/data.pkl", small_pkl)] +
                 [("archive/data/%d" % i, b"x") for i in range(3)])
    for i in range(3):
        three = declare_size(three, "archive/data/%d" % i, 0xFFFFFFF0)
    out.append(("zip records declaring 12 GiB", three, "bytes in all, more than"))
    big_pkl = declare_size(_zip([("archive/data.pkl", small_pkl)]), "archive/data.pkl", 1 << 30)
    out.append(("zip data.pkl declaring 1 GiB", big_pkl,
                "archive/data.pkl has 1073741824 bytes, expected at most"))
    return out


# ----------------------------------------------------------------------------------------------
# Mutations of real checkpoints
# ----------------------------------------------------------------------------------------------

def mutations(base, rnd, flips, truncations):
    """Seeded byte flips (half of them in the first and last 4 KB, where the pickle and the zip
    directory are) and truncations of base; yields (label, bytes)."""
    for i in range(flips):
        data = bytearray(base)
        for _ in range(rnd.randint(1, 3)):
            if rnd.random() < 0.5:
                pos = rnd.randrange(len(data))
            else:
                pos = rnd.randrange(4096) if rnd.random() < 0.5 else len(data) - 1 - \
                    rnd.randrange(4096)
            data[pos] ^= rnd.randrange(1, 256)
        yield "flip %d" % i, bytes(data)
    for i in range(truncations):
        cut = rnd.randrange(len(base))
        yield "cut at %d" % cut, base[:cut]


# ----------------------------------------------------------------------------------------------
# Running the converter
# ----------------------------------------------------------------------------------------------

def read_gw(path, raw=False):
    """Returns (metadata, {name: (shape, values)}) of a genie container (data/FORMAT.md);
    values are the little-endian float32 bytes when raw is true, else a tuple of floats.
    Strict: raises on anything malformed."""
    with open(path, "rb") as fh:
        b = fh.read()
    pos = 0

    def take(n):
        nonlocal pos
        if pos + n > len(b):
            raise ValueError("truncated")
        r = b[pos:pos + n]
        pos += n
        return r

    def u32():
        return struct.unpack("<I", take(4))[0]

    def string():
        return take(u32()).decode("utf-8")

    def verify_crc(start):  # version 2: a CRC32 of the bytes from start follows them
        if version == 2:
            end = pos
            assert u32() == zlib.crc32(b[start:end]), "checksum"

    assert take(4) == b"GNIE"
    version = u32()
    assert version in (1, 2)
    meta = OrderedDict()
    for _ in range(u32()):
        k = string()
        assert k not in meta
        meta[k] = string()
    count = u32()
    verify_crc(0)
    tensors = OrderedDict()
    for _ in range(count):
        start = pos
        name = string()
        assert 1 <= len(name.encode()) <= 1024 and name not in tensors
        dtype, bits, ndim = struct.unpack("<BBB", take(3))
        assert (dtype, bits) == (0, 32) and ndim <= 8
        dims = struct.unpack("<%dI" % ndim, take(4 * ndim))
        n = 1
        for d in dims:
            n *= d
        data = take(4 * n)
        vals = data if raw else struct.unpack("<%df" % n, data)
        verify_crc(start)
        tensors[name] = (tuple(dims), vals)
    assert pos == len(b), "trailing bytes"
    return meta, tensors


def layout(path):
    """What a correct conversion must reproduce: metadata, tensor names and shapes."""
    meta, tensors = read_gw(path, raw=True)
    return meta, [(name, shape) for name, (shape, _) in tensors.items()]


def run_case(workdir, index, data, fragment, reference):
    """Converts one case; returns None when it ended well, else what went wrong."""
    src = os.path.join(workdir, "case%d.pth" % index)
    out = os.path.join(workdir, "case%d.gw" % index)
    with open(src, "wb") as fh:
        fh.write(data)
    try:
        p = subprocess.run([sys.executable, SCRIPT, src, out] + list(ARGS), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, errors="replace", timeout=TIMEOUT_S,
                           cwd=workdir)
    except subprocess.TimeoutExpired:
        return "hung (no exit within %d s)" % TIMEOUT_S
    finally:
        os.unlink(src)
    if os.path.exists(os.path.join(workdir, "pwned")):
        return "ran the command the pickle holds"
    if p.returncode < 0:
        return "killed by signal %d" % -p.returncode
    if p.returncode == 0:
        problem = _check_success(p, out, reference) if fragment is None else \
            "converted, expected a failure with %r" % fragment
        os.unlink(out)
        return problem
    return _check_failure(p, src, out, fragment)


def _check_success(p, out, reference):
    if p.stderr:
        return "exit 0 with stderr %r" % p.stderr[:300]
    try:
        got = layout(out)
    except (AssertionError, ValueError, UnicodeDecodeError, struct.error) as e:
        return "exit 0 but a malformed output (%s)" % e
    return None if got == reference else "exit 0 but other names, shapes or metadata"


def _check_failure(p, src, out, fragment):
    lines = p.stderr.rstrip("\n").split("\n")
    if p.returncode != 1:
        return "exit %d: %s" % (p.returncode, p.stderr[-300:])
    if "Traceback" in p.stderr or not lines[0].startswith(src + ": ") or \
            any(not line.startswith("  ") for line in lines[1:]):
        return "not one message naming the file: %r" % p.stderr[-500:]
    if fragment is not None and fragment not in lines[0]:
        return "message %r lacks %r" % (lines[0], fragment)
    if os.path.exists(out):
        return "exit 1 but an output was written"
    return None


def all_cases(seed=SEED, hostile=True):
    """(label, bytes, fragment or None, reference layout) for every case, in a fixed order;
    without the hostile ones when hostile is false."""
    rnd = random.Random(seed)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        references = {}
        for base in BASES:
            out = os.path.join(tmp, "ref.gw")
            subprocess.run([sys.executable, SCRIPT, os.path.join(PARITY, base), out] +
                           list(ARGS), check=True, stdout=subprocess.DEVNULL)
            references[base] = layout(out)
    for base in BASES:
        with open(os.path.join(PARITY, base), "rb") as fh:
            blob = fh.read()
        for label, data in mutations(blob, rnd, FLIPS_PER_BASE, TRUNCATIONS_PER_BASE):
            cases.append(("%s, %s" % (base, label), data, None, references[base]))
    for label, data, fragment in hostile_checkpoints() if hostile else ():
        cases.append((label, data, fragment, None))
    return cases


def run(seed=SEED, jobs=2, verbose=False, hostile=True):
    """Runs every case; returns the number of cases and the list of 'label: problem' for those
    that went wrong."""
    cases = all_cases(seed, hostile)
    with tempfile.TemporaryDirectory() as workdir, ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(lambda ic: run_case(workdir, ic[0], ic[1][1], ic[1][2],
                                                    ic[1][3]), enumerate(cases)))
    problems = []
    for (label, _, _, _), problem in zip(cases, results):
        if verbose:
            print("%-60s %s" % (label[:60], problem or "ok"))
        if problem:
            problems.append("%s: %s" % (label, problem))
    return len(cases), problems


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args()
    count, problems = run(a.seed, verbose=a.verbose)
    for line in problems:
        print("FAIL " + line)
    print("%d passed, %d failed" % (count - len(problems), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
