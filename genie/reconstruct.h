// GENIE-M's block reconstruction of one unit (docs/METHOD.md, "Block reconstruction").
//
// Given the unit's cached float input X, float output Y and quantized-model input X_q (all N
// calibration images), each step takes N/32 images of a random permutation, mixes the input
// x_in = where(U < p_quantized, X_q, X) (QDrop, p_quantized 0.5), and minimises
//   sum_c (unit(x_in) - Y)^2, averaged over batch and positions
//   + round_weight * sum (1 - |2 h(V) - 1|^beta)          from 20% of the iterations on,
// beta 20, then linear 20 -> 2 to the end. Adam: soft bits lr 1e-3 (constant); weight steps
// lr 1e-4 and activation steps lr 4e-5, both cosine-annealed to 0.
#pragma once

#include <functional>
#include <string>

#include "genie/quantized_resnet.h"

namespace genie {

struct ReconstructConfig {
  int iters = 20000;
  int batch = 32;  // images per step (the reference: N / 32)
  float round_weight = 1.0f;
  bool learn_bits = true;
  bool learn_weight_step = true;      // GENIE-M; AdaRound keeps the weight step fixed
  bool learn_activation_step = true;  // LSQ
  // Probability that an element of the unit's input comes from X_q rather than X: 0.5 with
  // QDrop, 1 for the quantized network's input alone, 0 for the float network's.
  float p_quantized_input = 0.5f;
  bool progress = true;
  // Told each iteration's losses (rounding 0 before it starts) and beta; unset: nobody listens.
  std::function<void(int iteration, float reconstruction, float rounding, float beta)> observe;
};

struct ReconstructLoss {
  double reconstruction = 0;  // at the last step
  double rounding = 0;
};

// The distance minimised: sum over channels (dim 1) of the squared error, mean over the rest.
Tensor reconstruction_loss(const Tensor& output, const Tensor& target);
// beta at iteration `it` of `iters` (1-based), docs/METHOD.md's annealing.
float rounding_beta(int it, int iters);

// Reconstructs unit `unit` of `q` in place, its layers running in the modes the caller set
// (QuantizedResNet::set_unit_mode): learn_bits needs soft bits.
ReconstructLoss reconstruct_unit(QuantizedResNet& q, int unit, const Tensor& x, const Tensor& x_q,
                                 const Tensor& y, const ReconstructConfig& config,
                                 engine::Rng& rng);

}  // namespace genie
