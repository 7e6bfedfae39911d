// A quantized ResNet as a QDQ-format ONNX graph, described in JSON for tools/export_onnx.py,
// which writes the ONNX file with the `onnx` Python package (Debian python3-onnx).
//
// The split: this side knows the network (blocks, shortcuts, where the simulation quantizes)
// and the codes; the script only turns nodes and initializers into ONNX protobufs with the
// library made for it, and checks the model. The graph mirrors QuantizedResNet's hooks:
//   activation:  [Clip(Qn*s, Qp*s)] -> QuantizeLinear(s, 0) -> DequantizeLinear(s, 0), uint8 for
//                an unsigned quantizer, int8 for a signed one; the Clip keeps a quantizer of
//                fewer than 8 bits inside its own range (QuantizeLinear clamps to 8 bits only)
//   weight:      DequantizeLinear per output channel (axis 0) of int8 values code - 2^(b-1)
//                with zero points zp - 2^(b-1): W = s * (code - zp) exactly; codes of fewer
//                than 8 bits are stored in int8, inside [-2^(b-1), 2^(b-1) - 1]; a layer
//                with a zero point int8 cannot hold (8-bit codes of a one-signed channel)
//                stores int32 values code - zp with zero point 0
//   placement:   the stem conv's input is the float image; a block's input is quantized once
//                and read by its first conv and its shortcut; the classifier's input last.
// Input: float32 (N, C, S, S) normalised with the model's mean/std (kept in the ONNX model's
// metadata_props, comma-separated per channel); output: (N, classes) logits.
//
// JSON: {"opset", "metadata": {"mean", "std", "arch"}, "input": {"name", "shape"}, "output":
// {"name", "shape"},
//        "initializers": [{"name", "type": float|int8|uint8|int32|int64, "dims", "values"}],
//        "nodes": [{"op", "inputs", "outputs", "attributes": {NAME: {"i"|"f"|"ints": ...}}}]}
#pragma once

#include <string>

#include "genie/quantized_resnet.h"

namespace genie {

std::string qdq_graph_json(QuantizedResNet& q);

}  // namespace genie
