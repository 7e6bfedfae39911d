// GENIE-M's activation quantizer (docs/GENIE.md, "Activation quantizer"): per tensor,
// symmetric, no zero point; LSQ's learned step without gradient scaling.
//
//   init (first call):  signed iff the batch has a negative value;
//                       range [-2^(b-1), 2^(b-1) - 1] signed, [0, 2^b - 1] unsigned;
//                       step by the clip search over [-max|x|, max|x|] or [0, max|x|]
//   forward:            s * round_ste(clamp(x / s, Qn, Qp))
//   QDrop (training):   each element keeps its float value with probability p (0.5)
#pragma once

#include "engine/rng.h"

namespace genie {

using engine::Tensor;

class ActivationQuantizer {
 public:
  explicit ActivationQuantizer(int bits);
  // A quantizer restored from a quantized model file.
  ActivationQuantizer(int bits, bool is_signed, float step);

  // x quantized, except that each element stays float with probability `drop` (QDrop; 0 in
  // evaluation, 1 for a float pass). The first call initialises the step and sign from x.
  Tensor forward(const Tensor& x, float drop, engine::Rng& rng);

  bool initialized() const { return step.defined(); }
  void to(engine::Device device) { step.move_to(device); }
  bool is_signed() const { return signed_; }
  int bits() const { return bits_; }
  Tensor step;  // (1), learned; undefined until the first call

 private:
  void initialize(const Tensor& x);
  int bits_;
  bool signed_ = false;
};

}  // namespace genie
