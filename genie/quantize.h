// GENIE-M over a whole network: the units in order (stem conv, each block, the classifier),
// each reconstructed on cached activations and then switched to hard rounding, so that the
// next unit's quantized-model input carries the error of everything before it.
//
// Methods (docs/GENIE.md, "Baselines"), from the most learned to the least:
//   genie     soft bits + learned weight and activation steps + QDrop, one stage (GENIE-M);
//   qdrop     the same with the weight step fixed: GENIE-M minus its one change;
//   brecq     AdaRound on the weights with float inputs (rounding weight 0.01), then LSQ on
//             the activation steps;
//   adaround  soft bits only: both steps stay at the clip search's, no QDrop;
//   rtn       round to nearest after the clip search, no reconstruction.
#pragma once

#include <memory>
#include <string>

#include "genie/quantized_resnet.h"

namespace genie {

enum class QuantMethod { Genie, QDrop, Brecq, AdaRound, Rtn };
QuantMethod parse_quant_method(const std::string& name);  // throws std::invalid_argument
std::string method_name(QuantMethod method);

struct QuantConfig {
  QuantMethod method = QuantMethod::Genie;
  QuantPolicy policy;
  int iters = 20000;  // per unit (per stage for brecq)
  int batch = 0;      // images per step; 0: N / 32 as the reference
  float drop = 0.5f;  // QDrop probability
  float round_weight = 1.0f;
  uint64_t seed = 0;
  bool progress = true;
};

// Quantizes `model` on `calibration` images (N, C, S, S), normalised. The model's weights are
// left unchanged (its parameters are frozen: gradients flow only to the quantizers).
std::unique_ptr<QuantizedResNet> quantize(models::ResNet& model, const Tensor& calibration,
                                          const QuantConfig& config);

}  // namespace genie
