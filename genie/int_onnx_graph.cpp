// The QDQ graph of a quantized ResNet; see int_onnx_graph.h.
#include "genie/int_onnx_graph.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <type_traits>

namespace genie {

namespace {

// "%.9g" round-trips every float32 exactly.
std::string number(float v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", static_cast<double>(v));
  return text;
}

template <class T>
std::string list(const std::vector<T>& values) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out << ",";
    if constexpr (std::is_same_v<T, float>)
      out << number(values[i]);
    else if constexpr (std::is_same_v<T, std::string>)
      out << "\"" << values[i] << "\"";
    else
      out << static_cast<int64_t>(values[i]);
  }
  out << "]";
  return out.str();
}

std::string ints_attribute(const std::vector<int64_t>& v) { return "{\"ints\":" + list(v) + "}"; }
std::string int_attribute(int64_t v) { return "{\"i\":" + std::to_string(v) + "}"; }
std::string float_attribute(float v) { return "{\"f\":" + number(v) + "}"; }

class GraphWriter {
 public:
  explicit GraphWriter(QuantizedResNet& q) : q_(q) {}
  std::string json(const std::string& output);

  std::string stem(const std::string& x);
  std::string block(const models::Block& b, const std::string& x);
  std::string head(const std::string& x);

 private:
  using Attributes = std::vector<std::pair<std::string, std::string>>;
  std::string fresh(const std::string& hint) { return hint + "_" + std::to_string(count_++); }
  void node(const std::string& op, const std::vector<std::string>& inputs,
            const std::string& output, const Attributes& attributes = {});
  template <class T>
  std::string constant(const std::string& name, const char* type, const std::vector<int>& dims,
                       const std::vector<T>& values);
  std::string quantize_activation(const std::string& x, const ActivationQuantizer& a);
  std::string dequantized_weight(const std::string& layer);
  std::string conv(const models::Conv2d& c, const std::string& x);
  std::string batch_norm(const models::BatchNorm2d& bn, const std::string& x);
  std::string unary(const std::string& op, const std::string& x, const Attributes& a = {});
  std::string option_a_shortcut(const std::string& x, int pad_channels);

  QuantizedResNet& q_;
  std::vector<std::string> nodes_, initializers_;
  int count_ = 0;
};

void GraphWriter::node(const std::string& op, const std::vector<std::string>& inputs,
                       const std::string& output, const Attributes& attributes) {
  std::string a;
  for (const auto& [name, value] : attributes)
    a += (a.empty() ? "\"" : ",\"") + name + "\":" + value;
  nodes_.push_back("{\"op\":\"" + op + "\",\"inputs\":" + list(inputs) + ",\"outputs\":[\"" +
                   output + "\"],\"attributes\":{" + a + "}}");
}

template <class T>
std::string GraphWriter::constant(const std::string& name, const char* type,
                                  const std::vector<int>& dims, const std::vector<T>& values) {
  initializers_.push_back("{\"name\":\"" + name + "\",\"type\":\"" + type +
                          "\",\"dims\":" + list(dims) + ",\"values\":" + list(values) + "}");
  return name;
}

std::string GraphWriter::unary(const std::string& op, const std::string& x, const Attributes& a) {
  std::string out = fresh(op);
  node(op, {x}, out, a);
  return out;
}

std::string GraphWriter::quantize_activation(const std::string& x, const ActivationQuantizer& a) {
  const int bits = a.bits();
  const float step = a.step.item();
  const float qn = a.qn(), qp = a.qp();
  const char* type = a.is_signed() ? "int8" : "uint8";
  std::string in = x;
  if (bits < 8) {
    std::string lo = constant(fresh("clip_min"), "float", {}, std::vector<float>{qn * step});
    std::string hi = constant(fresh("clip_max"), "float", {}, std::vector<float>{qp * step});
    in = fresh("clipped");
    node("Clip", {x, lo, hi}, in);
  }
  std::string scale = constant(fresh("act_scale"), "float", {}, std::vector<float>{step});
  std::string zero = constant(fresh("act_zero"), type, {}, std::vector<int>{0});
  std::string codes = fresh("q");
  node("QuantizeLinear", {in, scale, zero}, codes);
  std::string out = fresh("dq");
  node("DequantizeLinear", {codes, scale, zero}, out);
  return out;
}

// Int8 values code - 2^(b-1) with zero points zp - 2^(b-1): the same differences code - zp. A
// zero point outside the codes' range (a channel whose weights share one sign, in 8 bits) may
// not fit int8; such a layer stores int32 values code - zp with zero point 0 instead.
std::string GraphWriter::dequantized_weight(const std::string& layer) {
  const WeightQuantizer& w = *q_.layer(layer).weight;
  engine::CodeTensor codes = w.codes();
  const int offset = 1 << (w.bits() - 1);
  std::vector<float> zero_point = w.zero_point.values();
  const bool fits = std::all_of(zero_point.begin(), zero_point.end(), [&](float zp) {
    return zp - offset >= -128 && zp - offset <= 127;
  });
  const int K = codes.shape[0];
  const size_t per_channel = codes.codes.size() / K;
  std::vector<int> values(codes.codes.size()), zero_points(K);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = codes.codes[i] - (fits ? offset : static_cast<int>(zero_point[i / per_channel]));
  for (int k = 0; k < K; ++k) zero_points[k] = fits ? static_cast<int>(zero_point[k]) - offset : 0;
  const char* type = fits ? "int8" : "int32";
  std::string v = constant(layer + ".weight_codes", type, codes.shape, values);
  std::string s = constant(layer + ".weight_step", "float", {K}, w.step.values());
  std::string z = constant(layer + ".weight_zero_point", type, {K}, zero_points);
  std::string out = layer + ".weight";
  node("DequantizeLinear", {v, s, z}, out, {{"axis", int_attribute(0)}});
  return out;
}

std::string GraphWriter::conv(const models::Conv2d& c, const std::string& x) {
  std::vector<std::string> inputs{x, dequantized_weight(c.name)};
  if (c.bias.defined())
    inputs.push_back(constant(c.name + ".bias", "float", {c.bias.size(0)}, c.bias.values()));
  const int64_t k = c.weight.size(2), s = c.stride, p = c.padding;
  std::string out = fresh(c.name);
  node("Conv", inputs, out,
       {{"kernel_shape", ints_attribute({k, k})},
        {"strides", ints_attribute({s, s})},
        {"pads", ints_attribute({p, p, p, p})}});
  return out;
}

std::string GraphWriter::batch_norm(const models::BatchNorm2d& bn, const std::string& x) {
  const int C = bn.state.running_mean.size(0);
  auto or_fill = [&](const Tensor& t, float fill) {
    return t.defined() ? t.values() : std::vector<float>(C, fill);
  };
  std::vector<std::string> inputs{
      x, constant(bn.name + ".weight", "float", {C}, or_fill(bn.weight, 1.0f)),
      constant(bn.name + ".bias", "float", {C}, or_fill(bn.bias, 0.0f)),
      constant(bn.name + ".running_mean", "float", {C}, bn.state.running_mean.values()),
      constant(bn.name + ".running_var", "float", {C}, bn.state.running_var.values())};
  std::string out = fresh(bn.name);
  node("BatchNormalization", inputs, out, {{"epsilon", float_attribute(bn.state.eps)}});
  return out;
}

// Every second pixel from the first, then channels zero-padded on both sides.
std::string GraphWriter::option_a_shortcut(const std::string& x, int pad_channels) {
  const int64_t end = std::numeric_limits<int32_t>::max();
  std::string starts = constant(fresh("starts"), "int64", {2}, std::vector<int64_t>{0, 0});
  std::string ends = constant(fresh("ends"), "int64", {2}, std::vector<int64_t>{end, end});
  std::string axes = constant(fresh("axes"), "int64", {2}, std::vector<int64_t>{2, 3});
  std::string steps = constant(fresh("steps"), "int64", {2}, std::vector<int64_t>{2, 2});
  std::string sliced = fresh("subsampled");
  node("Slice", {x, starts, ends, axes, steps}, sliced);
  const int64_t p = pad_channels;
  std::string pads =
      constant(fresh("pads"), "int64", {8}, std::vector<int64_t>{0, p, 0, 0, 0, p, 0, 0});
  std::string out = fresh("padded");
  node("Pad", {sliced, pads}, out);
  return out;
}

std::string GraphWriter::stem(const std::string& x) {
  models::ResNet& model = q_.model();
  std::string h = batch_norm(*model.batch_norms().front(), conv(*model.convs().front(), x));
  h = unary("Relu", h);
  if (models::is_cifar_arch(model.config().arch)) return h;
  return unary("MaxPool", h,
               {{"kernel_shape", ints_attribute({3, 3})},
                {"strides", ints_attribute({2, 2})},
                {"pads", ints_attribute({1, 1, 1, 1})}});
}

std::string GraphWriter::block(const models::Block& b, const std::string& x) {
  std::string entry = quantize_activation(x, *q_.layer(b.convs[0].name).input);
  std::string h = entry;
  for (size_t i = 0; i < b.convs.size(); ++i) {
    if (i > 0) h = quantize_activation(unary("Relu", h), *q_.layer(b.convs[i].name).input);
    h = batch_norm(b.bns[i], conv(b.convs[i], h));
  }
  std::string skip = q_.policy().skip_input == SkipInput::quantized ? entry : x;
  if (b.projection)
    skip = batch_norm(b.shortcut_bn, conv(b.shortcut_conv, entry));
  else if (b.shortcut_pad_channels > 0)
    skip = option_a_shortcut(skip, b.shortcut_pad_channels);
  std::string sum = fresh(b.name + "_add");
  node("Add", {h, skip}, sum);
  return unary("Relu", sum);
}

std::string GraphWriter::head(const std::string& x) {
  const models::Linear& fc = q_.model().classifier();
  std::string pooled =
      unary("Flatten", unary("GlobalAveragePool", x), {{"axis", int_attribute(1)}});
  std::vector<std::string> inputs{quantize_activation(pooled, *q_.layer(fc.name).input),
                                  dequantized_weight(fc.name)};
  if (fc.bias.defined())
    inputs.push_back(constant(fc.name + ".bias", "float", {fc.bias.size(0)}, fc.bias.values()));
  std::string out = "logits";
  node("Gemm", inputs, out, {{"transB", int_attribute(1)}});
  return out;
}

std::string GraphWriter::json(const std::string& output) {
  const models::ModelConfig& c = q_.model().config();
  std::string nodes, inits;
  for (const std::string& n : nodes_) nodes += (nodes.empty() ? "" : ",\n") + n;
  for (const std::string& i : initializers_) inits += (inits.empty() ? "" : ",\n") + i;
  auto joined = [](const std::vector<float>& v) {
    std::string text;
    for (float x : v) text += (text.empty() ? "" : ",") + number(x);
    return "\"" + text + "\"";
  };
  return "{\"opset\":13,\n\"metadata\":{\"mean\":" + joined(c.mean) + ",\"std\":" + joined(c.std) +
         ",\"arch\":\"" + c.arch + "\"},\n\"input\":{\"name\":\"input\",\"shape\":[\"N\"," +
         std::to_string(c.in_channels) + "," + std::to_string(c.input_size) + "," +
         std::to_string(c.input_size) + "]},\n\"output\":{\"name\":\"" + output +
         "\",\"shape\":[\"N\"," + std::to_string(c.num_classes) + "]},\n\"initializers\":[" +
         inits + "],\n\"nodes\":[" + nodes + "]}\n";
}

}  // namespace

std::string qdq_graph_json(QuantizedResNet& q) {
  GraphWriter g(q);
  std::string h = g.stem("input");
  for (const models::Block& b : q.model().blocks()) h = g.block(b, h);
  return g.json(g.head(h));
}

}  // namespace genie
