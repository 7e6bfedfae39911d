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
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/dataset/dataset.h"
#include "genie/quantized_resnet.h"
#include "models/evaluate.h"

namespace genie {

// An allocator whose vector.resize(n) leaves the new elements unwritten: std::allocator
// value-initialises them, a zero-fill that took a fifth of the integer engine's time, and the
// engine writes every element of its activations before reading it. Sanitizer builds
// (GENIE_POISON_UNINITIALIZED, as Tensor::uninitialized) fill them with NaN or 255 instead, so
// that a read before the first write shows in the results.
template <typename T>
struct NoFillAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = NoFillAllocator<U>;
  };
  // Default-initialisation, which for bytes and floats writes nothing. Constructions with a
  // value (copies, assign(n, v)) go through std::allocator_traits' placement new as usual.
  template <typename U>
  void construct(U* p) {
#if GENIE_POISON_UNINITIALIZED
    ::new (static_cast<void*>(p))
        U(std::numeric_limits<U>::has_quiet_NaN ? std::numeric_limits<U>::quiet_NaN()
                                                : std::numeric_limits<U>::max());
#else
    ::new (static_cast<void*>(p)) U;
#endif
  }
};
template <typename T>
using Activations = std::vector<T, NoFillAllocator<T>>;

// Activations in NHWC order (channels innermost), the layout oneDNN's int8 kernels read.
struct NhwcTensor {
  int n = 0, h = 0, w = 0, c = 0;
  Activations<float> values;
};

// Activation codes, one byte each: int8 (two's complement) when signed, else uint8; the value
// each stands for is code * step.
struct NhwcCodes {
  int n = 0, h = 0, w = 0, c = 0;
  bool is_signed = false;
  float step = 1.0f;
  Activations<uint8_t> bytes;
};

NhwcTensor to_nhwc(const Tensor& nchw);
Tensor to_nchw(const NhwcTensor& x);
// round(clamp(x / step, Qn, Qp)) exactly as ActivationQuantizer::forward computes it.
NhwcCodes quantize_activations(const NhwcTensor& x, const ActivationQuantizer& quantizer);
// code * step, the simulation's quantized value.
NhwcTensor dequantize_activations(const NhwcCodes& x);

// The int32 sums of one integer conv, NHWC: sum(activation code * (weight code - zp)).
struct NhwcSums {
  int n = 0, h = 0, w = 0, c = 0;
  std::unique_ptr<int32_t[]> values;  // n*h*w*c, filled by the conv itself
};

// The float epilogue of one integer conv, per output channel k, in the order the simulation
// computes it (each step rounded to float, as its separate ops round them):
//   v = sum * (s_a * s_w[k]) + bias[k];  v = (v - mean[k]) * scale[k] + shift[k];  max(v, floor)
// and then, inside a block, the next conv's quantizer. The BatchNorm step is the one fused
// multiply-add that engine::batch_norm's loop compiles to; integer_inference.cpp is compiled
// with -ffp-contract=off (Makefile) so that nothing else fuses: GCC would otherwise fuse the
// scaling with the bias add, which the simulation rounds apart (the same bits while the bias
// is 0, as in these ResNets, whose convs have none; not for a conv with a bias). A missing part is
// its identity, which leaves every value's bits as they are (v is never -0: sum * scale is +0 for a
// zero sum): no bias is 0, no BatchNorm is mean 0, scale 1, shift 0, no ReLU is floor -inf.
struct Epilogue {
  std::vector<float> scale;                               // s_a * s_w[k]
  std::vector<float> bias;                                // the conv's
  std::vector<float> mean, bn_scale, bn_shift;            // BatchNorm in eval mode
  float floor = -std::numeric_limits<float>::infinity();  // 0 for a ReLU
};

// One quantized conv (a linear layer is a 1x1 conv on a 1x1 image) as integer convolution.
class IntegerConv {
 public:
  IntegerConv(const WeightQuantizer& weight, int stride, int padding);
  ~IntegerConv();
  IntegerConv(IntegerConv&&) noexcept;
  // sum(activation code * (weight code - zp)) for every output element, exact in int32.
  NhwcSums sums(const NhwcCodes& x);
  const std::vector<float>& weight_step() const;  // s_w[k]
  // s_a * s_w[k] * sums(x): the conv alone, as the simulation's conv computes it.
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
  NhwcSums conv(const std::string& name, const NhwcCodes& x);
  // Conv `name`'s epilogue on input x: its scales, `bias`, `bn` when given, ReLU when `relu`.
  Epilogue epilogue(const std::string& name, const NhwcCodes& x, const Tensor& bias,
                    const models::BatchNorm2d* bn, bool relu);

  QuantizedResNet& q_;
  std::map<std::string, IntegerConv> convs_;
};

// Top-1 / top-5 of the integer engine on the first `limit` images (all when 0).
models::Accuracy evaluate_integer(IntegerResNet& net, models::ResNet& model,
                                  const engine::Dataset& data, int batch, int64_t limit);

}  // namespace genie
