// GENIE-M's weight quantizer (docs/METHOD.md, "Weight quantizer"): per output channel,
// asymmetric, integer codes in [0, 2^b - 1] with an integer zero point.
//
//   init:   step s0 and zero point zp by the clip search (clip_search.h), per channel
//           B = floor(W / s0), frozen;  soft bits V with h(V) = W / s0 - B
//           h(V) = clamp(sigmoid(V) * 1.2 - 0.1, 0, 1)          (rectified sigmoid, AdaRound)
//   soft:   Wq = s * (clamp(B + h(V) + zp, 0, 2^b - 1) - zp)     s and V learned together:
//   hard:   Wq = s * (clamp(B + [V >= 0] + zp, 0, 2^b - 1) - zp)  since B never moves, they can
//   codes:  clamp(B + [V >= 0] + zp, 0, 2^b - 1)
// Shapes: W (K, ...) with K output channels; s and zp (K, 1, ...) broadcast over the rest.
#pragma once

#include "engine/tensor_file.h"

namespace genie {

using engine::Tensor;

class WeightQuantizer {
 public:
  WeightQuantizer(const Tensor& weight, int bits);
  // A quantizer that reproduces stored codes exactly (a quantized model file).
  static WeightQuantizer from_codes(const engine::CodeTensor& codes, const Tensor& step,
                                    const Tensor& zero_point);

  Tensor soft_weights() const;
  Tensor hard_weights() const;
  Tensor rectified_sigmoid() const;  // h(V)
  // sum(1 - |2 h(V) - 1|^beta): pushes every h(V) to 0 or 1 (AdaRound's regulariser).
  Tensor rounding_loss(float beta) const;
  engine::CodeTensor codes() const;
  void to(engine::Device device);
  Tensor hard_codes() const;  // clamp(B + [V >= 0] + zp, 0, 2^b - 1) as floats, no gradient

  int bits() const { return bits_; }
  Tensor step;         // s (K, 1, ...), learned by GENIE
  Tensor soft_bits;    // V, W's shape, learned
  Tensor zero_point;   // (K, 1, ...), frozen
  Tensor floor_codes;  // B, W's shape, frozen

 private:
  WeightQuantizer() = default;
  int bits_ = 8;
};

}  // namespace genie
