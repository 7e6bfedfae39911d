// GENIE-M's activation quantizer (docs/METHOD.md, "Activation quantizer"): per tensor,
// symmetric, no zero point; LSQ's learned step without gradient scaling.
//
//   init (explicit):    signed iff the batch has a negative value;
//                       range [-2^(b-1), 2^(b-1) - 1] signed, [0, 2^b - 1] unsigned;
//                       step by the clip search over [-max|x|, max|x|] or [0, max|x|]
//   forward:            s * round_ste(clamp(x / s, Qn, Qp))      (engine::fake_quantize)
//   QDrop (training):   each element takes its quantized value with probability p_quantized
//                       (0.5), and keeps its float value otherwise (engine::fake_quantize's
//                       QDrop form)
#pragma once

#include "engine/rng.h"

namespace genie {

using engine::Tensor;

class ActivationQuantizer {
 public:
  explicit ActivationQuantizer(int bits);
  // A quantizer restored from a quantized model file.
  ActivationQuantizer(int bits, bool is_signed, float step);

  // Sets the sign and the step from a batch (its first 32 images in GENIE-M).
  void initialize(const Tensor& x);
  bool initialized() const { return step.defined(); }

  // x quantized (evaluation). Needs initialize() first.
  Tensor forward(const Tensor& x) const;
  // QDrop: each element of x takes its quantized value with probability `p_quantized` and
  // keeps its float value otherwise (1: forward(x); 0: x itself, uninitialised or not).
  Tensor forward(const Tensor& x, float p_quantized, engine::Rng& rng) const;

  void to(engine::Device device) { step.move_to(device); }
  bool is_signed() const { return signed_; }
  int bits() const { return bits_; }
  float qn() const;  // the code range [Qn, Qp] for this sign and bit width
  float qp() const;
  Tensor step;  // (1), learned; undefined until initialize()

 private:
  void require_initialized() const;

  int bits_;
  bool signed_ = false;
};

}  // namespace genie
