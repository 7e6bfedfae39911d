#!/usr/bin/env python3
"""Writes an ONNX model from the QDQ graph description that `genie export` makes.

    python3 tools/export_onnx.py GRAPH.json OUT.onnx

`genie export --onnx OUT.onnx --model Q.gw` runs this; the JSON layout is documented in
genie/int_onnx_graph.h. The ONNX protobufs are built and checked by the `onnx` package (Debian
python3-onnx): the library that defines the format, rather than protobuf code of our own.
Errors end in one line on stderr naming the file and exit status 1.
"""
import json
import sys

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:
    sys.exit("export_onnx.py: the onnx Python package is missing: apt-get install python3-onnx")

TYPES = {"float": np.float32, "int8": np.int8, "int32": np.int32, "uint8": np.uint8, "int64": np.int64}


def initializer(spec):
    values = np.array(spec["values"], dtype=TYPES[spec["type"]]).reshape(spec["dims"])
    return numpy_helper.from_array(values, spec["name"])


def attribute_value(value):
    if "ints" in value:
        return [int(v) for v in value["ints"]]
    if "f" in value:
        return float(value["f"])
    return int(value["i"])


def node(spec):
    attributes = {k: attribute_value(v) for k, v in spec["attributes"].items()}
    return helper.make_node(spec["op"], spec["inputs"], spec["outputs"], **attributes)


def model_from(graph):
    inp, out = graph["input"], graph["output"]
    onnx_graph = helper.make_graph(
        [node(n) for n in graph["nodes"]], "genie_qdq",
        [helper.make_tensor_value_info(inp["name"], TensorProto.FLOAT, inp["shape"])],
        [helper.make_tensor_value_info(out["name"], TensorProto.FLOAT, out["shape"])],
        [initializer(i) for i in graph["initializers"]])
    model = helper.make_model(onnx_graph, producer_name="genie.cpp",
                              opset_imports=[helper.make_opsetid("", graph["opset"])])
    helper.set_model_props(model, graph["metadata"])
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    source, target = argv[1], argv[2]
    try:
        with open(source, encoding="utf-8") as f:
            graph = json.load(f)
        model = model_from(graph)
    except (OSError, ValueError, KeyError, TypeError, onnx.checker.ValidationError) as e:
        print(f"{source}: cannot make an ONNX model: {e}".splitlines()[0], file=sys.stderr)
        return 1
    try:
        onnx.save(model, target)
    except OSError as e:
        print(f"{target}: cannot write: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
