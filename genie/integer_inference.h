// Integer inference of a quantized ResNet on the CPU: the deployment counterpart of the
// fake-quantized simulation in quantized_resnet.h, computing the same network.
//
// Every conv but the stem, and the classifier, runs as an integer convolution with int32
// accumulation: activation codes (uint8, or int8 for a signed quantizer) against weight codes
// minus their zero point (int8). Between them a float epilogue per layer: the scales
// s_a * s_w[k], BatchNorm, ReLU, the residual add and the requantisation to the next layer's
// quantizer. The stem conv stays float, as in the simulation: its input is the image itself.
//
// Where it quantizes mirrors QuantizedResNet's hooks exactly: a block's input is quantized
// once, at the block's entry, by its first conv's quantizer, and the shortcut (identity,
// option A or projection) reads that quantized tensor.
//
// The integer kernels are oneDNN's (Debian libdnnl-dev): its int8 convolution takes uint8 or
// int8 activations and int8 weights straight from NHWC, accumulates in int32 and picks its
// kernels for the CPU at run time (AVX-512 VNNI, AVX2, ...). gemmlowp, the other candidate in
// Debian bookworm, offers a GEMM only (we would write im2col ourselves), takes uint8 operands
// with uint8 offsets only (no signed activations) and tunes its x86 kernels far less.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/dataset/dataset.h"
#include "genie/quantized_resnet.h"
#include "models/evaluate.h"

namespace genie {

// Activations in NHWC order (channels innermost), the layout oneDNN's int8 kernels read.
struct NhwcTensor {
  int n = 0, h = 0, w = 0, c = 0;
  std::vector<float> values;
};

// Activation codes, one byte each: int8 (two's complement) when signed, else uint8; the value
// each stands for is code * step.
struct NhwcCodes {
  int n = 0, h = 0, w = 0, c = 0;
  bool is_signed = false;
  float step = 1.0f;
  std::vector<uint8_t> bytes;
};

NhwcTensor to_nhwc(const Tensor& nchw);
Tensor to_nchw(const NhwcTensor& x);
// round(clamp(x / step, Qn, Qp)) exactly as ActivationQuantizer::forward computes it.
NhwcCodes quantize_activations(const NhwcTensor& x, const ActivationQuantizer& quantizer);
// code * step, the simulation's quantized value.
NhwcTensor dequantize_activations(const NhwcCodes& x);

// One quantized conv (a linear layer is a 1x1 conv on a 1x1 image) as integer convolution.
class IntegerConv {
 public:
  IntegerConv(const WeightQuantizer& weight, int stride, int padding);
  ~IntegerConv();
  IntegerConv(IntegerConv&&) noexcept;
  // s_a * s_w[k] * sum(activation code * (weight code - zp)) for every output element.
  NhwcTensor forward(const NhwcCodes& x);

 private:
  struct Kernels;
  std::unique_ptr<Kernels> kernels_;
};

class IntegerResNet {
 public:
  // Reads the codes, steps and the float layers (stem, BatchNorm, biases) of `q`, which must
  // outlive this; throws std::invalid_argument naming a layer the integer engine cannot run.
  explicit IntegerResNet(QuantizedResNet& q);
  ~IntegerResNet();
  // x (N, C, S, S) normalised input -> (N, classes) logits.
  Tensor forward(const Tensor& x);

 private:
  NhwcTensor stem(const Tensor& x);
  NhwcTensor block(const models::Block& b, const NhwcTensor& input);
  Tensor head(const NhwcTensor& x);
  NhwcTensor conv(const std::string& name, const NhwcCodes& x);

  QuantizedResNet& q_;
  std::map<std::string, IntegerConv> convs_;
};

// Top-1 / top-5 of the integer engine on the first `limit` images (all when 0).
models::Accuracy evaluate_integer(IntegerResNet& net, models::ResNet& model,
                                  const engine::Dataset& data, int batch, int64_t limit);

}  // namespace genie
