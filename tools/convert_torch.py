#!/usr/bin/env python3
"""Convert a PyTorch ResNet checkpoint to a genie weight file (.gw), see data/FORMAT.md.

Usage:
  python3 tools/convert_torch.py IN.pth OUT.gw --arch ARCH [--shortcut A|B] [--num-classes N]
      [--in-channels C] [--width W] [--input-size S] [--mean m1,m2,m3 --std s1,s2,s3]
      [--rename 'REGEX=REPLACEMENT' ...]

Only the Python standard library is used: PyTorch is not needed. Both checkpoint formats are
read: the zip-based torch.save format (PyTorch >= 1.6) and the legacy one. Checkpoints are
untrusted: the pickles are read by an unpickler that resolves only the handful of globals a
tensor state_dict needs and refuses every other one before anything is called; before that,
check_pickle walks each pickle's opcodes without building anything and refuses one that nests
too deeply, would build too much (memo reuse), or holds huge integers or lengths. Every failure
is one line on stderr naming the file (a name mismatch adds an indented listing), exit 1.

--rename rules (Python re.sub, applied in order) map foreign names such as an nn.Sequential's
`0.weight` onto the architecture's before they are matched.

ARCH is resnet20/32/44/56 (CIFAR style, akamaster naming: conv1, bn1, layer{1,2,3}.i.*,
optional option-B `shortcut.{0,1}`, linear; `fc.*` is renamed to `linear.*`) or
resnet18/34/50 (torchvision naming). Names and shapes are checked against the architecture.
The width (channels of the first stage) is read from conv1.weight; reduced widths, such as the
PyTorch parity fixtures use, get a `width` metadata key, the standard 16 (CIFAR) / 64 (ImageNet)
none.
"""

import argparse
import io
import math
import os
import pickle
import pickletools
import re
import reprlib
import stat
import struct
import sys
import tempfile
import zipfile
import zlib
from array import array
from collections import OrderedDict

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

CIFAR_ARCHS = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9}
CIFAR_WIDTH, IMAGENET_WIDTH = 16, 64
IMAGENET_ARCHS = {"resnet18": ("basic", [2, 2, 2, 2]), "resnet34": ("basic", [3, 4, 6, 3]),
                  "resnet50": ("bottleneck", [3, 4, 6, 3])}
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
STATE_DICT_KEYS = ("state_dict", "model", "model_state_dict", "net")


class ConvertError(Exception):
    """An expected problem; main() prints it as one line and exits with status 1."""


# ----------------------------------------------------------------------------------------------
# Limits: a checkpoint is untrusted, so everything it declares is checked against a cap before
# anything that large is read, decompressed or built
# ----------------------------------------------------------------------------------------------

MAX_CHECKPOINT_BYTES = 1 << 33        # 8 GiB: ImageNet ResNet checkpoints are ~100 MB
MAX_ZIP_TOTAL_BYTES = 1 << 33         # all zip members together, uncompressed
MAX_ZIP_RATIO = 200                   # torch.save stores records uncompressed, deflate gets
ZIP_RATIO_FLOOR = 1 << 20             #   ~1000x on zeros: the ratio of records over 1 MiB
MAX_PICKLE_BYTES = 1 << 26            # 64 MiB of pickle (a ResNet-50 state_dict takes ~40 KB)
MAX_PICKLE_DEPTH = 100                # nesting; a checkpoint nests less than 10 deep
MAX_PICKLE_OBJECTS = 10_000_000       # objects built, each memo reuse counted again
MAX_PICKLE_STRING = 1 << 24           # 16 MiB for one string or bytes object
MAX_PICKLE_LINE = 1 << 16             # a text argument (GLOBAL, STRING, FLOAT, ...)
MAX_INT_BYTES = 32                    # LONG1/LONG4: torch's largest is the 10-byte legacy magic
MAX_INT_DIGITS = 80                   # INT/LONG written in decimal


class PickleLimit(Exception):
    """A pickle that is malformed or exceeds a limit, found before it is unpickled."""


class _Built:
    """What the scan knows of one object the unpickler would build: its nesting depth and its
    size counted as a tree (an object fetched from the memo n times counts n times)."""
    __slots__ = ("depth", "size", "used")

    def __init__(self, parts=()):
        for p in parts:
            p.used = True
        self.depth = 1 + max((p.depth for p in parts), default=0)
        self.size = 1 + sum(p.size for p in parts)
        self.used = False  # inside another object: from then on its depth and size are final


_MARK = object()
_OPCODES = {op.code.encode("latin-1"): op for op in pickletools.opcodes}
_GROWS_IN_PLACE = frozenset(("APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"))
_MEMO_PUT = frozenset(("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"))
_MEMO_GET = frozenset(("GET", "BINGET", "LONG_BINGET"))
_MEMO_OPS = _MEMO_PUT | _MEMO_GET
_LENGTH_PREFIX = {pickletools.TAKEN_FROM_ARGUMENT1: "<B", pickletools.TAKEN_FROM_ARGUMENT4: "<i",
                  pickletools.TAKEN_FROM_ARGUMENT4U: "<I", pickletools.TAKEN_FROM_ARGUMENT8U: "<Q"}


def _read_line(data, pos, limit):
    end = data.find(b"\n", pos, pos + limit + 1)
    if end < 0:
        if len(data) - pos <= limit:
            raise EOFError
        raise PickleLimit("a text argument longer than %d bytes" % limit)
    return data[pos:end], end + 1


def _read_arg(op, data, pos):
    """Reads the argument of op at data[pos:]; returns (value or None, position after it).
    Only memo indices are decoded; every length and integer is checked against its cap."""
    n = op.arg.n if op.arg else 0
    if n >= 0:
        if pos + n > len(data):
            raise EOFError
        raw = data[pos:pos + n]
        return (int.from_bytes(raw, "little") if op.name in _MEMO_OPS else None,
                pos + n)
    if n == pickletools.UP_TO_NEWLINE:
        line, pos = _read_line(data, pos, MAX_PICKLE_LINE)
        if op.arg.name == "stringnl_noescape_pair":  # GLOBAL and INST: module and name lines
            _, pos = _read_line(data, pos, MAX_PICKLE_LINE)
        if op.name in ("INT", "LONG", "GET", "PUT") and len(line) > MAX_INT_DIGITS:
            raise PickleLimit("an integer of %d digits (at most %d)" % (len(line), MAX_INT_DIGITS))
        if op.name in ("GET", "PUT"):
            if not line.isdigit():
                raise PickleLimit("a bad memo index")
            return int(line), pos
        return None, pos
    fmt = _LENGTH_PREFIX[n]
    width = struct.calcsize(fmt)
    if pos + width > len(data):
        raise EOFError
    (length,) = struct.unpack_from(fmt, data, pos)
    pos += width
    if op.name in ("LONG1", "LONG4") and length > MAX_INT_BYTES:
        raise PickleLimit("an integer of %d bytes (at most %d)" % (length, MAX_INT_BYTES))
    if length < 0:
        raise PickleLimit("a negative length %d" % length)
    if length > MAX_PICKLE_STRING:
        raise PickleLimit("a %d-byte string (at most %d)" % (length, MAX_PICKLE_STRING))
    if pos + length > len(data):
        raise PickleLimit("a %d-byte string with %d bytes left" % (length, len(data) - pos))
    return None, pos + length


def _pop_args(op, stack):
    """Pops what op consumes (everything above the mark, for mark opcodes); returns it."""
    before = op.stack_before
    if pickletools.markobject in before:
        if _MARK not in stack:
            raise PickleLimit("%s without a MARK" % op.name)
        mark = len(stack) - 1 - stack[::-1].index(_MARK)
        parts = stack[mark + 1:]
        del stack[mark:]
        count = before.index(pickletools.markobject)
    else:
        parts, count = [], len(before)
    if len(stack) < count or _MARK in stack[len(stack) - count:]:
        raise PickleLimit("%s with too few arguments on the stack" % op.name)
    parts = stack[len(stack) - count:] + parts
    del stack[len(stack) - count:]
    return parts


def _step(op, arg, stack, memo, data_len):
    """Applies op's effect on the stack and the memo to the scan's stand-ins."""
    if op.name in _MEMO_PUT:
        if not stack or stack[-1] is _MARK:
            raise PickleLimit("%s with an empty stack" % op.name)
        index = len(memo) if op.name == "MEMOIZE" else arg
        if index > data_len:  # the pickler numbers memo entries 0, 1, 2, ...
            raise PickleLimit("memo index %d out of range" % index)
        memo[index] = stack[-1]
        return
    if op.name in _MEMO_GET:
        if arg not in memo:
            raise PickleLimit("memo entry %d fetched before it is stored" % arg)
        stack.append(memo[arg])
        return
    parts = _pop_args(op, stack)
    if op.name in _GROWS_IN_PLACE:
        target = parts[0]
        if target.used:
            raise PickleLimit("an object changed after it was used (a self-referencing "
                              "structure)")
        grown = _Built(parts[1:])
        target.depth = max(target.depth, grown.depth)
        target.size += grown.size - 1
        stack.append(target)
    elif op.name == "DUP":
        stack += parts * 2
    elif op.stack_after == [pickletools.markobject]:
        stack.append(_MARK)
    elif op.stack_after:
        stack.append(_Built(parts))
    top = stack[-1] if stack else None
    if isinstance(top, _Built):
        if top.depth > MAX_PICKLE_DEPTH:
            raise PickleLimit("nesting deeper than %d levels" % MAX_PICKLE_DEPTH)
        if top.size > MAX_PICKLE_OBJECTS:
            raise PickleLimit("more than %d objects (memo entries reused over and over)"
                              % MAX_PICKLE_OBJECTS)


def check_pickle(data, start=0):
    """Walks the opcodes of the pickle at data[start:] without building anything and returns
    the offset after its STOP. Raises PickleLimit for a pickle that nests too deeply, would
    build too much (memo reuse), holds huge integers or declares lengths past its end; EOFError
    for one that ends early. The unpickler then runs only on pickles that passed."""
    stack, memo = [], {}
    pos = start
    while True:
        if pos - start > MAX_PICKLE_BYTES:
            raise PickleLimit("longer than %d bytes" % MAX_PICKLE_BYTES)
        if pos >= len(data):
            raise EOFError
        op = _OPCODES.get(data[pos:pos + 1])
        if op is None:
            raise PickleLimit("unknown opcode 0x%02x at offset %d" % (data[pos], pos))
        arg, pos = _read_arg(op, data, pos + 1)
        if op.name == "STOP":
            return pos
        _step(op, arg, stack, memo, len(data))


# ----------------------------------------------------------------------------------------------
# Restricted unpickling
# ----------------------------------------------------------------------------------------------

class StorageType:
    """Stands for torch.<Name>Storage; never callable, only used as a persistent-id token."""
    __slots__ = ("name", "dtype", "itemsize")

    def __init__(self, name, dtype, itemsize):
        self.name, self.dtype, self.itemsize = name, dtype, itemsize

    def __repr__(self):
        return "torch.%s" % self.name

    def __setstate__(self, state):  # a pickle must not BUILD (mutate) these shared objects
        raise pickle.UnpicklingError("unexpected state for %s" % type(self).__name__)


# storage class name -> (dtype name, bytes per element)
STORAGE_DTYPES = {
    "FloatStorage": ("float32", 4), "DoubleStorage": ("float64", 8),
    "HalfStorage": ("float16", 2), "BFloat16Storage": ("bfloat16", 2),
    "LongStorage": ("int64", 8), "IntStorage": ("int32", 4), "ShortStorage": ("int16", 2),
    "CharStorage": ("int8", 1), "ByteStorage": ("uint8", 1), "BoolStorage": ("bool", 1),
}
FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")


class Storage:
    """One storage of a checkpoint: raw bytes (filled in by the loader) in a given byte order."""
    __slots__ = ("key", "stype", "numel", "data", "loader", "byteorder", "base", "base_offset")

    def __init__(self, key, stype, numel):
        self.key, self.stype, self.numel = key, stype, numel
        self.data = None          # bytes-like, numel * itemsize bytes, set by the loader
        self.loader = None        # or a function returning them, called on first use
        self.byteorder = "little"
        self.base = None          # legacy views: (root storage, element offset)
        self.base_offset = 0

    def __setstate__(self, state):  # a pickle must not BUILD (mutate) these shared objects
        raise pickle.UnpicklingError("unexpected state for %s" % type(self).__name__)

    def raw(self):
        if self.base is not None:
            root = self.base
            isz = self.stype.itemsize
            start = self.base_offset * isz
            return root.raw()[start:start + self.numel * isz]
        if self.data is None and self.loader is not None:
            self.data, self.loader = self.loader(), None
        return self.data


class LazyTensor:
    """A tensor as described by the pickle; its data is gathered only when needed."""
    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __setstate__(self, state):  # a pickle must not BUILD (mutate) these shared objects
        raise pickle.UnpicklingError("unexpected state for %s" % type(self).__name__)

    @property
    def dtype(self):
        return self.storage.stype.dtype

    @property
    def shape(self):
        return tuple(self.size)

    def numel(self):
        n = 1
        for s in self.size:
            n *= s
        return n


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    if not isinstance(storage, Storage):
        raise pickle.UnpicklingError("tensor without a storage")
    if not _is_int(storage_offset) or storage_offset < 0:
        raise pickle.UnpicklingError("bad tensor storage offset %s" % _brief(storage_offset))
    if not isinstance(size, (tuple, list)) or not isinstance(stride, (tuple, list)):
        raise pickle.UnpicklingError("bad tensor size/stride")
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride) or len(size) > 64:
        raise pickle.UnpicklingError("bad tensor size/stride %s/%s"
                                         % (_brief(size), _brief(stride)))
    for v in size + stride:
        if not _is_int(v) or v < 0:
            raise pickle.UnpicklingError("bad tensor size/stride %s/%s"
                                         % (_brief(size), _brief(stride)))
    return LazyTensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    if not isinstance(data, LazyTensor):
        raise pickle.UnpicklingError("parameter without a tensor")
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _rebuild_parameter(data)


class _TypeToken:
    """Stands for torch.Tensor / torch.nn.Parameter when passed as a type argument."""
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __setstate__(self, state):  # a pickle must not BUILD (mutate) these shared objects
        raise pickle.UnpicklingError("unexpected state for %s" % type(self).__name__)


def _rebuild_from_type_v2(func, new_type, args, state):
    if not any(func is f for f in _REBUILD_FNS.values()) or not isinstance(new_type, _TypeToken):
        raise pickle.UnpicklingError("unsupported _rebuild_from_type_v2 call")
    if not isinstance(args, tuple):
        raise pickle.UnpicklingError("bad _rebuild_from_type_v2 arguments")
    return func(*args)


class _Callable:
    """Wraps an allowed function so that a pickle can call it but not BUILD (mutate) it."""
    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)

    def __setstate__(self, state):
        raise pickle.UnpicklingError("unexpected state for %s" % self.fn.__name__)


_REBUILD_FNS = {f.__name__: _Callable(f) for f in (
    _rebuild_tensor_v2, _rebuild_tensor, _rebuild_parameter, _rebuild_parameter_with_state)}

ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._tensor", "_rebuild_from_type_v2"): _Callable(_rebuild_from_type_v2),
    ("torch", "Tensor"): _TypeToken("Tensor"),
    ("torch._tensor", "Tensor"): _TypeToken("Tensor"),
    ("torch.nn.parameter", "Parameter"): _TypeToken("Parameter"),
}
for _name, _fn in _REBUILD_FNS.items():
    ALLOWED_GLOBALS[("torch._utils", _name)] = _fn
for _name, (_dt, _sz) in STORAGE_DTYPES.items():
    ALLOWED_GLOBALS[("torch", _name)] = StorageType(_name, _dt, _sz)
    ALLOWED_GLOBALS[("torch.cuda", _name)] = StorageType(_name, _dt, _sz)


class RefusedGlobal(Exception):
    def __init__(self, module, name):
        super().__init__("%s.%s" % (module, name))
        self.qualname = "%s.%s" % (module, name)


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only ALLOWED_GLOBALS; storages come from the loader's persistent_load."""

    def __init__(self, file, persistent_load):
        super().__init__(file, encoding="utf-8")
        self._persistent_load = persistent_load

    def find_class(self, module, name):
        obj = ALLOWED_GLOBALS.get((module, name))
        if obj is None:
            raise RefusedGlobal(module, name)
        return obj

    def persistent_load(self, pid):
        if self._persistent_load is None:
            raise pickle.UnpicklingError("unexpected persistent id")
        return self._persistent_load(pid)


def _unpickle(path, data, start, persistent_load=None):
    """Checks the pickle at data[start:] against the limits, then unpickles it; returns the
    object and the offset after the pickle."""
    try:
        end = check_pickle(data, start)
        return RestrictedUnpickler(io.BytesIO(data[start:end]), persistent_load).load(), end
    except PickleLimit as e:
        raise ConvertError("%s: refusing the checkpoint pickle: %s" % (path, e)) from None
    except RefusedGlobal as e:
        raise ConvertError("%s: refusing to load global %s (checkpoints are untrusted)"
                           % (path, e.qualname)) from None
    except ConvertError:
        raise
    except EOFError:
        raise ConvertError("%s: truncated checkpoint (pickle ends early)" % path) from None
    except RecursionError:
        raise ConvertError("%s: corrupt checkpoint (pickle nested too deeply)" % path) from None
    except MemoryError:
        raise ConvertError("%s: corrupt checkpoint (pickle too large)" % path) from None
    except Exception as e:  # any malformed pickle: UnpicklingError, ValueError, TypeError, ...
        raise ConvertError("%s: corrupt checkpoint pickle (%s)" % (path, _first_line(e))) \
            from None


def _first_line(e):
    """An exception's message as one line (or its type when it has none)."""
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def _decode(x):
    return x.decode("ascii", "replace") if isinstance(x, bytes) else x


_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother = 2, 60, 60


def _brief(x):
    """A short repr of an untrusted object: a plain repr could walk a huge shared graph."""
    return _BRIEF.repr(x)


# ----------------------------------------------------------------------------------------------
# Checkpoint formats
# ----------------------------------------------------------------------------------------------

def _check_zip_sizes(path, zf):
    """Refuses a zip bomb before anything is decompressed: members that expand far more than
    deflate does on real data, or more bytes in all than a checkpoint can need."""
    total = 0
    for info in zf.infolist():
        total += info.file_size
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > ZIP_RATIO_FLOOR \
                and info.file_size > MAX_ZIP_RATIO * info.compress_size:
            raise ConvertError("%s: zip record %s expands %d bytes to %d (a zip bomb?)"
                               % (path, info.filename, info.compress_size, info.file_size))
    if total > MAX_ZIP_TOTAL_BYTES:
        raise ConvertError("%s: zip records declare %d bytes in all, more than %d (a zip bomb?)"
                           % (path, total, MAX_ZIP_TOTAL_BYTES))


def _load_zip(path, blob):
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
        names = zf.namelist()
    except Exception as e:  # zipfile raises a dozen types on damaged archives
        raise ConvertError("%s: not a valid zip checkpoint (%s)" % (path, _first_line(e))) \
            from None
    _check_zip_sizes(path, zf)
    pkls = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if "data.pkl" in names:
        pkls.append("data.pkl")
    if len(pkls) != 1:
        if any(n.endswith("constants.pkl") for n in names):
            raise ConvertError("%s: a TorchScript archive, not a torch.save checkpoint" % path)
        raise ConvertError("%s: zip archive without a single <name>/data.pkl record "
                           "(not a torch.save checkpoint)" % path)
    prefix = pkls[0][:-len("data.pkl")]

    def read(name, max_bytes):
        try:
            info = zf.getinfo(name)
        except KeyError:
            raise ConvertError("%s: missing record %s" % (path, name)) from None
        if info.file_size > max_bytes:
            raise ConvertError("%s: zip record %s has %d bytes, expected at most %d"
                               % (path, name, info.file_size, max_bytes))
        try:
            data = zf.read(info)
        except Exception as e:  # zipfile and its decompressors raise many types
            raise ConvertError("%s: corrupt zip record %s (%s)" % (path, name, _first_line(e))) \
                from None
        if len(data) != info.file_size:
            raise ConvertError("%s: zip record %s has %d bytes, its header says %d"
                               % (path, name, len(data), info.file_size))
        return data

    byteorder = "little"
    if prefix + "byteorder" in names:
        byteorder = read(prefix + "byteorder", 16).decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise ConvertError("%s: unknown byteorder %r" % (path, byteorder))

    storages = {}

    def persistent_load(pid):
        if not isinstance(pid, tuple) or len(pid) != 5 or _decode(pid[0]) != "storage":
            kind = pid[0] if isinstance(pid, tuple) and pid else pid
            raise pickle.UnpicklingError("unsupported persistent id %s" % _brief(kind))
        _, stype, key, _location, numel = pid
        key = _decode(key)
        if not isinstance(stype, StorageType) or not isinstance(key, str) or not _is_int(numel) \
                or numel < 0:
            raise pickle.UnpicklingError("bad storage reference")
        st = storages.get(key)
        if st is None:
            st = storages[key] = Storage(key, stype, numel)
        elif st.stype is not stype and st.stype.dtype != stype.dtype:
            raise pickle.UnpicklingError("storage %s used with two dtypes" % key)
        return st

    obj, _ = _unpickle(path, read(prefix + "data.pkl", MAX_PICKLE_BYTES), 0, persistent_load)
    for key, st in storages.items():
        name = prefix + "data/" + key
        try:
            size = zf.getinfo(name).file_size
        except KeyError:
            raise ConvertError("%s: missing record %s" % (path, name)) from None
        nbytes = st.numel * st.stype.itemsize
        if size != nbytes:
            raise ConvertError("%s: storage %s has %d bytes, expected %d"
                               % (path, key, size, nbytes))

        def load(name=name, nbytes=nbytes):  # read on first use: optimizer state is skipped
            return memoryview(read(name, nbytes))
        st.loader = load
        st.byteorder = byteorder
    return obj


def _load_legacy(path, blob):
    magic, pos = _unpickle(path, blob, 0)
    if magic != LEGACY_MAGIC:
        raise ConvertError("%s: not a PyTorch checkpoint (bad magic number)" % path)
    proto, pos = _unpickle(path, blob, pos)
    if proto != LEGACY_PROTOCOL:
        raise ConvertError("%s: unsupported legacy checkpoint protocol %s" % (path, _brief(proto)))
    # sys_info: torch writes legacy raw storages and their 8-byte element counts
    # little-endian whatever the host, so nothing in it matters here
    _, pos = _unpickle(path, blob, pos)

    roots = {}
    views = {}

    def persistent_load(pid):
        if not isinstance(pid, tuple) or not pid:
            raise pickle.UnpicklingError("unsupported persistent id")
        kind = _decode(pid[0])
        if kind == "module":
            raise pickle.UnpicklingError("checkpoint holds a whole nn.Module, not a state_dict")
        if kind != "storage" or len(pid) != 6:
            raise pickle.UnpicklingError("unsupported persistent id %s" % _brief(kind))
        _, stype, key, _location, numel, view = pid
        key = _decode(key)
        if not isinstance(stype, StorageType) or not isinstance(key, str) or not _is_int(numel) \
                or numel < 0:
            raise pickle.UnpicklingError("bad storage reference")
        root = roots.get(key)
        if root is None:
            root = roots[key] = Storage(key, stype, numel)
        if view is None:
            return root
        if not isinstance(view, tuple) or len(view) != 3:
            raise pickle.UnpicklingError("bad storage view")
        vkey, voff, vsize = _decode(view[0]), view[1], view[2]
        if not (_is_int(voff) and _is_int(vsize)) or voff < 0 or vsize < 0 \
                or voff + vsize > root.numel:
            raise pickle.UnpicklingError("bad storage view")
        v = views.get(vkey)
        if v is None:
            v = views[vkey] = Storage(vkey, stype, vsize)
            v.base, v.base_offset = root, voff
        return v

    obj, pos = _unpickle(path, blob, pos, persistent_load)
    keys, pos = _unpickle(path, blob, pos)
    if not isinstance(keys, list):
        raise ConvertError("%s: corrupt legacy checkpoint (no storage key list)" % path)
    mv = memoryview(blob)
    for key in keys:
        key = _decode(key)
        st = roots.get(key)
        if st is None:
            raise ConvertError("%s: corrupt legacy checkpoint (unknown storage %s)"
                               % (path, _brief(key)))
        if pos + 8 > len(blob):
            raise ConvertError("%s: truncated checkpoint (storage %s missing)" % (path, key))
        (count,) = struct.unpack_from("<q", blob, pos)
        pos += 8
        if count != st.numel:
            raise ConvertError("%s: corrupt legacy checkpoint (storage %s has %d elements, "
                               "expected %d)" % (path, key, count, st.numel))
        nbytes = count * st.stype.itemsize
        if pos + nbytes > len(blob):
            raise ConvertError("%s: truncated checkpoint (storage %s needs %d bytes, %d left)"
                               % (path, key, nbytes, len(blob) - pos))
        st.data = mv[pos:pos + nbytes]
        st.byteorder = "little"
        pos += nbytes
    for key, st in roots.items():
        if st.data is None:
            raise ConvertError("%s: corrupt legacy checkpoint (storage %s has no data)"
                               % (path, key))
    return obj


def load_checkpoint(path):
    """Returns the unpickled checkpoint object; tensors are LazyTensor."""
    try:
        with open(path, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ConvertError("%s: not a regular file" % path)
            if info.st_size > MAX_CHECKPOINT_BYTES:
                raise ConvertError("%s: %d bytes, more than the %d a checkpoint may have"
                                   % (path, info.st_size, MAX_CHECKPOINT_BYTES))
            blob = fh.read()
    except OSError as e:
        raise ConvertError("%s: cannot read (%s)" % (path, e.strerror or e)) from None
    if not blob:
        raise ConvertError("%s: empty file" % path)
    if blob[:4] == b"PK\x03\x04" or blob[:4] == b"PK\x05\x06":
        return _load_zip(path, blob)
    if blob[:1] == b"\x80":
        return _load_legacy(path, blob)
    if blob[:2] == b"PK":
        return _load_zip(path, blob)
    raise ConvertError("%s: not a PyTorch checkpoint (neither a zip archive nor a legacy "
                       "pickle)" % path)


# ----------------------------------------------------------------------------------------------
# Tensor data
# ----------------------------------------------------------------------------------------------

def _decode_values(raw, dtype, byteorder):
    """Decodes raw storage bytes into a sequence of Python numbers."""
    swap = byteorder != sys.byteorder
    if dtype in ("float32", "float64", "int64", "int32", "int16", "int8", "uint8"):
        code = {"float32": "f", "float64": "d", "int64": "q", "int32": "i", "int16": "h",
                "int8": "b", "uint8": "B"}[dtype]
        a = array(code)
        if a.itemsize != {"f": 4, "d": 8, "q": 8, "i": 4, "h": 2, "b": 1, "B": 1}[code]:
            fmt = ("<" if byteorder == "little" else ">") + "%d" % (len(raw) // a.itemsize) + code
            return list(struct.unpack(fmt, raw))
        a.frombytes(raw)
        if swap:
            a.byteswap()
        return a
    if dtype == "float16":
        fmt = ("<" if byteorder == "little" else ">") + "%de" % (len(raw) // 2)
        return struct.unpack(fmt, raw)
    if dtype == "bfloat16":
        h = array("H")
        h.frombytes(raw)
        if swap:
            h.byteswap()
        bits = array("I", (x << 16 for x in h))
        f = array("f")
        f.frombytes(bits.tobytes())
        return f
    if dtype == "bool":
        return [1 if b else 0 for b in bytes(raw)]
    raise ValueError(dtype)


def tensor_values(t, name="tensor"):
    """Gathers a LazyTensor (offset, sizes, strides honoured) as a row-major float32 array."""
    st = t.storage
    n = t.numel()
    isz = st.stype.itemsize
    if n == 0:
        return array("f")
    last = t.offset + sum((s - 1) * d for s, d in zip(t.size, t.stride))
    if last >= st.numel:
        raise ConvertError("tensor %s reaches element %d of a storage with %d elements"
                           % (name, last, st.numel))
    raw = st.raw()
    if raw is None:
        raise ConvertError("tensor %s has no storage data" % name)
    # contiguous: strides are the row-major ones (dimensions of size 1 may have any stride)
    contiguous, expect = True, 1
    for s, d in zip(reversed(t.size), reversed(t.stride)):
        if s != 1 and d != expect:
            contiguous = False
            break
        expect *= s
    if contiguous:
        chunk = raw[t.offset * isz:(t.offset + n) * isz]
        if st.stype.dtype == "float32" and st.byteorder == "little":
            out = array("f")
            out.frombytes(bytes(chunk))
            if sys.byteorder != "little":
                out.byteswap()
            return out
        vals = _decode_values(chunk, st.stype.dtype, st.byteorder)
        return array("f", vals)
    lo = t.offset
    vals = _decode_values(raw[lo * isz:(last + 1) * isz], st.stype.dtype, st.byteorder)
    offs = [0]
    for s, d in zip(t.size, t.stride):
        offs = [o + i * d for o in offs for i in range(s)]
    return array("f", (vals[o] for o in offs))


def float32_le_bytes(t, name="tensor"):
    a = tensor_values(t, name)
    if sys.byteorder != "little":
        a = array("f", a)
        a.byteswap()
    return a.tobytes()


# ----------------------------------------------------------------------------------------------
# State dict and architecture
# ----------------------------------------------------------------------------------------------

def extract_state_dict(path, obj):
    """Finds the state_dict in a checkpoint, strips `module.`, drops num_batches_tracked."""
    depth = 0
    while isinstance(obj, dict) and depth < 4:
        if any(isinstance(v, LazyTensor) for v in obj.values()):
            break
        for k in STATE_DICT_KEYS:
            if isinstance(obj.get(k), dict):
                obj = obj[k]
                break
        else:
            break
        depth += 1
    if not isinstance(obj, dict):
        raise ConvertError("%s: checkpoint is a %s, not a state_dict" % (path, type(obj).__name__))
    if not any(isinstance(v, LazyTensor) for v in obj.values()):
        keys = ", ".join(sorted(_brief(k) if not isinstance(k, str) else k[:60]
                                for k in obj.keys())[:8])
        raise ConvertError("%s: no state_dict found (top-level keys: %s)" % (path, keys or "none"))
    out = OrderedDict()
    for k, v in obj.items():
        if not isinstance(k, str):
            raise ConvertError("%s: state_dict key %s is not a string" % (path, _brief(k)))
        if not isinstance(v, LazyTensor):
            raise ConvertError("%s: state_dict entry %s is a %s, not a tensor"
                               % (path, k, type(v).__name__))
        name = k[len("module."):] if k.startswith("module.") else k
        if name.endswith("num_batches_tracked"):
            continue
        if name in out:
            raise ConvertError("%s: duplicate tensor %s after stripping 'module.'" % (path, name))
        out[name] = v
    return out


def _bn(prefix, c):
    return [(prefix + ".weight", (c,)), (prefix + ".bias", (c,)),
            (prefix + ".running_mean", (c,)), (prefix + ".running_var", (c,))]


def standard_width(arch):
    return CIFAR_WIDTH if arch in CIFAR_ARCHS else IMAGENET_WIDTH


def expected_tensors(arch, shortcut, in_channels, num_classes, width=None):
    """The (name, shape) list of an architecture, in PyTorch state_dict order. Stage s has
    width << s channels (times 4 at a bottleneck's output); width None is the standard one."""
    w = standard_width(arch) if width is None else width
    spec = []
    if arch in CIFAR_ARCHS:
        k = CIFAR_ARCHS[arch]
        spec += [("conv1.weight", (w, in_channels, 3, 3))] + _bn("bn1", w)
        inp = w
        for li, planes in enumerate((w, 2 * w, 4 * w), start=1):
            for b in range(k):
                p = "layer%d.%d" % (li, b)
                spec += [(p + ".conv1.weight", (planes, inp, 3, 3))] + _bn(p + ".bn1", planes)
                spec += [(p + ".conv2.weight", (planes, planes, 3, 3))] + _bn(p + ".bn2", planes)
                if shortcut == "B" and (inp != planes):
                    spec += [(p + ".shortcut.0.weight", (planes, inp, 1, 1))]
                    spec += _bn(p + ".shortcut.1", planes)
                inp = planes
        spec += [("linear.weight", (num_classes, 4 * w)), ("linear.bias", (num_classes,))]
        return spec
    kind, blocks = IMAGENET_ARCHS[arch]
    exp = 4 if kind == "bottleneck" else 1
    spec += [("conv1.weight", (w, in_channels, 7, 7))] + _bn("bn1", w)
    inp = w
    for li, (planes, nb) in enumerate(zip((w, 2 * w, 4 * w, 8 * w), blocks), start=1):
        for b in range(nb):
            p = "layer%d.%d" % (li, b)
            stride = 2 if (b == 0 and li > 1) else 1
            if kind == "basic":
                spec += [(p + ".conv1.weight", (planes, inp, 3, 3))] + _bn(p + ".bn1", planes)
                spec += [(p + ".conv2.weight", (planes, planes, 3, 3))] + _bn(p + ".bn2", planes)
            else:
                spec += [(p + ".conv1.weight", (planes, inp, 1, 1))] + _bn(p + ".bn1", planes)
                spec += [(p + ".conv2.weight", (planes, planes, 3, 3))] + _bn(p + ".bn2", planes)
                spec += [(p + ".conv3.weight", (planes * exp, planes, 1, 1))]
                spec += _bn(p + ".bn3", planes * exp)
            if stride != 1 or inp != planes * exp:
                spec += [(p + ".downsample.0.weight", (planes * exp, inp, 1, 1))]
                spec += _bn(p + ".downsample.1", planes * exp)
            inp = planes * exp
    spec += [("fc.weight", (num_classes, 8 * w * exp)), ("fc.bias", (num_classes,))]
    return spec


def _fmt_shape(s):
    return "(" + ", ".join(str(d) for d in s) + ("," if len(s) == 1 else "") + ")"


MAX_LISTED_NAMES = 20


def _listing(path, arch, shortcut, missing, unmatched):
    """The name-mismatch message: a summary line, then the expected names the checkpoint
    lacks beside the checkpoint's tensors (with shapes) that the architecture lacks, the first
    20 of each."""
    model = arch + (" (shortcut %s)" % shortcut if arch in CIFAR_ARCHS else "")
    lines = ["%s: tensor names do not match %s: %d expected tensor%s missing, %d checkpoint "
             "tensor%s unmatched (--rename REGEX=REPLACEMENT maps checkpoint names)"
             % (path, model, len(missing), "" if len(missing) == 1 else "s", len(unmatched),
                "" if len(unmatched) == 1 else "s")]
    columns = []
    for names in (missing, ["%s %s" % (n, _fmt_shape(s)) for n, s in unmatched]):
        shown = names[:MAX_LISTED_NAMES]
        if len(names) > MAX_LISTED_NAMES:
            shown.append("... and %d more" % (len(names) - MAX_LISTED_NAMES))
        columns.append(shown or ["(none)"])
    heads = ["missing, expected by %s:" % arch, "unmatched in the checkpoint:"]
    width = max(len(s) for s in columns[0] + heads[:1]) + 3
    for i in range(max(len(col) for col in columns) + 1):
        left, right = [heads[j] if i == 0 else (columns[j][i - 1] if i - 1 < len(columns[j])
                                                else "") for j in (0, 1)]
        lines.append(("  " + left.ljust(width) + right).rstrip())
    return "\n".join(lines)


def check_names(path, sd, arch, shortcut):
    """Raises ConvertError listing the names that do not match (they do not depend on sizes,
    so this runs before any size is inferred)."""
    want = [name for name, _ in expected_tensors(arch, shortcut, 3, 10)]
    expected = set(want)
    missing = [name for name in want if name not in sd]
    unmatched = [(name, t.shape) for name, t in sd.items() if name not in expected]
    if missing or unmatched:
        raise ConvertError(_listing(path, arch, shortcut, missing, unmatched))


def validate(path, sd, arch, shortcut, in_channels, num_classes, width=None):
    """Raises ConvertError naming the first mis-shaped tensor or one that is not floating
    point; the names must already match (check_names)."""
    spec = expected_tensors(arch, shortcut, in_channels, num_classes, width)
    problems = []
    for name, shape in spec:
        if sd[name].shape != shape:
            problems.append("tensor %s: expected shape %s, got %s"
                            % (name, _fmt_shape(shape), _fmt_shape(sd[name].shape)))
    for name, shape in spec:
        if sd[name].dtype not in FLOAT_DTYPES:
            problems.append("tensor %s has dtype %s, expected a floating-point type"
                            % (name, sd[name].dtype))
    if problems:
        more = " (and %d more problems)" % (len(problems) - 1) if len(problems) > 1 else ""
        raise ConvertError("%s: %s%s" % (path, problems[0], more))


def parse_rename(text):
    """--rename 'REGEX=REPLACEMENT' -> (compiled regex, replacement). The last '=' splits, so
    the regex may hold a lookahead; the replacement is checked here, not on first use."""
    pattern, sep, replacement = text.rpartition("=")
    if not sep or not pattern:
        raise ConvertError("convert_torch.py: --rename %r: expected REGEX=REPLACEMENT" % text)
    try:
        regex = re.compile(pattern)
        regex.sub(replacement, "")
    except re.error as e:
        raise ConvertError("convert_torch.py: --rename %r: %s" % (text, e)) from None
    return regex, replacement


def rename_tensors(path, sd, renames):
    """Applies each (regex, replacement) in order to every name, as re.sub does."""
    out, origin = OrderedDict(), {}
    for name, t in sd.items():
        new = name
        for regex, replacement in renames:
            new = regex.sub(replacement, new)
        if not new:
            raise ConvertError("%s: --rename turns %s into an empty name" % (path, name))
        if new in out:
            raise ConvertError("%s: --rename turns both %s and %s into %s"
                               % (path, origin[new], name, new))
        out[new], origin[new] = t, name
    return out


def _parse_floats(opt, text):
    try:
        vals = [float(x) for x in text.split(",")]
    except ValueError:
        raise ConvertError("convert_torch.py: --%s: expected comma-separated numbers, got %r"
                           % (opt, text)) from None
    if not all(math.isfinite(v) for v in vals):
        raise ConvertError("convert_torch.py: --%s: values must be finite, got %r" % (opt, text))
    return vals


def _fmt_float(v):
    s = repr(float(v))
    return s[:-2] if s.endswith(".0") else s


def convert(in_path, out_path, arch, shortcut=None, num_classes=None, in_channels=None,
            input_size=None, mean=None, std=None, width=None, renames=()):
    """Converts IN to OUT; returns (metadata list, number of tensors). renames: the
    (regex, replacement) pairs of parse_rename, applied to the checkpoint's names in order."""
    if arch not in CIFAR_ARCHS and arch not in IMAGENET_ARCHS:
        raise ConvertError("convert_torch.py: unknown arch %r (expected one of %s)"
                           % (arch, ", ".join(list(CIFAR_ARCHS) + list(IMAGENET_ARCHS))))
    cifar = arch in CIFAR_ARCHS
    if shortcut is not None and shortcut not in ("A", "B"):
        raise ConvertError("convert_torch.py: --shortcut must be A or B, got %r" % shortcut)
    if not cifar and shortcut == "A":
        raise ConvertError("convert_torch.py: --shortcut A is only for CIFAR ResNets; %s uses "
                           "projection shortcuts (B)" % arch)
    for opt, v in (("num-classes", num_classes), ("in-channels", in_channels),
                   ("input-size", input_size), ("width", width)):
        if v is not None and v < 1:
            raise ConvertError("convert_torch.py: --%s must be positive, got %d" % (opt, v))
    if (mean is None) != (std is None):
        raise ConvertError("convert_torch.py: --mean and --std must be given together")

    renames = [parse_rename(r) if isinstance(r, str) else r for r in renames]
    sd = rename_tensors(in_path, extract_state_dict(in_path, load_checkpoint(in_path)), renames)
    if cifar:
        renamed = OrderedDict()
        for name, t in sd.items():
            if name in ("fc.weight", "fc.bias"):
                new = "linear." + name[3:]
                if new in sd:
                    raise ConvertError("%s: both %s and %s present" % (in_path, name, new))
                name = new
            renamed[name] = t
        sd = renamed
        if shortcut is None:
            shortcut = "B" if any(".shortcut." in n for n in sd) else "A"
    else:
        shortcut = "B"
    check_names(in_path, sd, arch, shortcut)

    head = "linear.weight" if cifar else "fc.weight"
    c1 = sd["conv1.weight"]  # check_names made sure it is there
    if len(c1.shape) != 4:
        raise ConvertError("%s: conv1.weight has shape %s, expected a 4-d tensor to infer the "
                           "width and input channels from" % (in_path, _fmt_shape(c1.shape)))
    if c1.shape[0] < 1 or c1.shape[1] < 1:
        raise ConvertError("%s: conv1.weight has shape %s" % (in_path, _fmt_shape(c1.shape)))
    if width is not None and width != c1.shape[0]:
        raise ConvertError("%s: --width %d disagrees with conv1.weight, shape %s (width %d)"
                           % (in_path, width, _fmt_shape(c1.shape), c1.shape[0]))
    width = c1.shape[0]
    if width % 2:
        # option A pads half the width on each side of the channels; genie's ResNet config
        # (models::validate) accepts even widths only, for every arch
        raise ConvertError("%s: width %d (conv1.weight shape %s) is odd; genie's ResNets need "
                           "an even width" % (in_path, width, _fmt_shape(c1.shape)))
    if in_channels is None:
        in_channels = c1.shape[1]
    if num_classes is None:
        h = sd[head]
        if len(h.shape) != 2:
            raise ConvertError("%s: %s has shape %s, expected a 2-d tensor to infer the number "
                               "of classes from" % (in_path, head, _fmt_shape(h.shape)))
        num_classes = h.shape[0]
        if num_classes < 1:
            raise ConvertError("%s: %s has shape %s" % (in_path, head, _fmt_shape(h.shape)))
    validate(in_path, sd, arch, shortcut, in_channels, num_classes, width)

    if input_size is None:
        input_size = 32 if cifar else 224
    if mean is None:
        if in_channels != 3:
            raise ConvertError("%s: the model has %d input channels; give --mean and --std "
                               "(the defaults are for 3 channels)" % (in_path, in_channels))
        mean, std = (CIFAR_MEAN, CIFAR_STD) if cifar else (IMAGENET_MEAN, IMAGENET_STD)
    else:
        mean, std = _parse_floats("mean", mean), _parse_floats("std", std)
    if len(mean) != in_channels or len(std) != in_channels:
        raise ConvertError("convert_torch.py: --mean/--std have %d/%d values, the model has %d "
                           "input channels" % (len(mean), len(std), in_channels))
    if any(s <= 0 for s in std):
        raise ConvertError("convert_torch.py: --std values must be positive")

    meta = [("arch", arch), ("shortcut", shortcut)]
    if width != standard_width(arch):
        meta.append(("width", str(width)))
    meta += [("num_classes", str(num_classes)),
             ("in_channels", str(in_channels)), ("input_size", str(input_size)),
             ("mean", ",".join(_fmt_float(v) for v in mean)),
             ("std", ",".join(_fmt_float(v) for v in std))]
    tensors = []
    for name, t in sd.items():
        try:
            data = float32_le_bytes(t, name)
        except ConvertError as e:
            if str(e).startswith(in_path + ": "):
                raise
            raise ConvertError("%s: %s" % (in_path, e)) from None
        tensors.append((name, t.shape, data))
    write_gw(out_path, meta, tensors)
    return meta, len(tensors)


# ----------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------

def _str_field(s):
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b


def _with_crc(chunks):
    """chunks followed by the CRC32 of their bytes (zlib's, as data/FORMAT.md's version 2)."""
    crc = 0
    for c in chunks:
        crc = zlib.crc32(c, crc)
    return chunks + [struct.pack("<I", crc)]


def encode_gw(meta, tensors):
    """meta: [(key, value)]; tensors: [(name, shape, float32 little-endian bytes)]. Format
    version 2: the header and every tensor carry a CRC32, so damage is caught on reading."""
    header = [b"GNIE", struct.pack("<II", 2, len(meta))]
    for k, v in meta:
        header += [_str_field(k), _str_field(v)]
    header.append(struct.pack("<I", len(tensors)))
    out = _with_crc(header)
    for name, shape, data in tensors:
        nb = name.encode("utf-8")
        if not 1 <= len(nb) <= 1024:
            raise ConvertError("tensor name %r: length must be 1 to 1024 bytes" % name)
        if len(shape) > 8 or any(d >= 2 ** 32 for d in shape):
            raise ConvertError("tensor %s: shape %s not representable" % (name, _fmt_shape(shape)))
        n = 1
        for d in shape:
            n *= d
        assert len(data) == 4 * n, (name, len(data), n)
        out += _with_crc([_str_field(name), struct.pack("<BBB", 0, 32, len(shape)),
                          struct.pack("<%dI" % len(shape), *shape), data])
    return out


def write_gw(path, meta, tensors):
    if len(tensors) > 65536:
        raise ConvertError("%s: too many tensors (%d)" % (path, len(tensors)))
    chunks = encode_gw(meta, tensors)
    d = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; give OUT the usual permissions
        with os.fdopen(fd, "wb") as fh:
            for c in chunks:
                fh.write(c)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise ConvertError("%s: cannot write (%s)" % (path, e.strerror or e)) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write("%s: error: %s\n" % (self.prog, message))
        sys.exit(1)


def _fail(message):
    sys.stderr.write(message + "\n")
    return 1


def main(argv=None):
    p = _Parser(prog="convert_torch.py",
                description="Convert a PyTorch ResNet checkpoint to a genie .gw weight file.")
    p.add_argument("input", metavar="IN.pth")
    p.add_argument("output", metavar="OUT.gw")
    p.add_argument("--arch", required=True,
                   help="resnet20/32/44/56 (CIFAR) or resnet18/34/50 (ImageNet)")
    p.add_argument("--shortcut", help="CIFAR shortcut: A (parameter-free) or B (1x1 conv + BN); "
                   "inferred from the weights when omitted")
    p.add_argument("--num-classes", type=int, help="default: from the classifier weights")
    p.add_argument("--in-channels", type=int, help="default: from conv1.weight")
    p.add_argument("--width", type=int, help="channels of the first stage, checked against "
                   "conv1.weight (default: from it; standard 16 CIFAR / 64 ImageNet)")
    p.add_argument("--input-size", type=int, help="default: 32 (CIFAR) / 224 (ImageNet)")
    p.add_argument("--mean", help="per-channel mean, comma-separated")
    p.add_argument("--std", help="per-channel std, comma-separated")
    p.add_argument("--rename", action="append", default=[], metavar="REGEX=REPLACEMENT",
                   help="rename checkpoint tensors (Python re.sub, after a leading 'module.' "
                   "is stripped) before they are matched; repeatable, applied in order")
    a = p.parse_args(argv)
    try:
        meta, n = convert(a.input, a.output, a.arch, a.shortcut, a.num_classes, a.in_channels,
                          a.input_size, a.mean, a.std, a.width, a.rename)
    except ConvertError as e:
        return _fail(str(e))
    except MemoryError:
        return _fail("%s: out of memory while converting" % a.input)
    except RecursionError:
        return _fail("%s: checkpoint nested too deeply to convert" % a.input)
    except Exception as e:  # a bug here must still not print a traceback at the user
        return _fail("%s: cannot convert (unexpected %s: %s)"
                     % (a.input, type(e).__name__, _first_line(e)))
    print("%s: %d tensors, %s" % (a.output, n, ", ".join("%s=%s" % kv for kv in meta)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
