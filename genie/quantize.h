// GENIE-M over a whole network: the units in order (stem conv, each block, the classifier),
// each reconstructed on cached activations and then switched to hard rounding, so that the
// next unit's quantized-model input carries the error of everything before it.
//
// Methods (docs/METHOD.md, "Baselines"), from the most learned to the least:
//   genie     soft bits + learned weight and activation steps + QDrop, one stage (GENIE-M);
//   qdrop     the same with the weight step fixed: GENIE-M minus its one change;
//   brecq     two passes over the units, as its reference code: first AdaRound's soft bits
//             (rounding weight 0.01) with the activations float, on the inputs of the network
//             quantized so far; then LSQ on the activation steps, rounding fixed, on the float
//             network's inputs;
//   adaround  soft bits only (rounding weight 0.01), on the quantized network's inputs: both
//             steps stay at the clip search's, no QDrop;
//   rtn       round to nearest after the clip search, no reconstruction.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "genie/observer.h"
#include "genie/quantized_resnet.h"
#include "genie/reconstruct.h"

namespace genie {

enum class QuantMethod { Genie, QDrop, Brecq, AdaRound, Rtn };
QuantMethod parse_quant_method(const std::string& name);  // throws std::invalid_argument
std::string method_name(QuantMethod method);

// The reference's mini-batch is N / 32: one pass over the images every 32 steps.
constexpr int kBatchesPerPass = 32;
// The activation quantizers initialise on the first 32 images of their unit's X_q.
constexpr int kActivationInitImages = 32;

struct QuantConfig {
  QuantMethod method = QuantMethod::Genie;
  QuantPolicy policy;
  int iters = 20000;                  // per unit (per unit and pass for brecq)
  int batch = 0;                      // images per step; 0: N / kBatchesPerPass
  float p_quantized = 0.5f;           // QDrop (genie, qdrop): see LayerMode
  std::optional<float> round_weight;  // unset: the method's own
  uint64_t seed = 0;
  bool progress = true;
  // Checkpoint (quantize_state.h): "" for none; else written after every unit, and read back
  // first when `resume` and the file exists. quantize_to_file sets the path.
  std::string state_path;
  bool resume = false;
  const Observer* observer = nullptr;  // told each unit's losses, before and after learning
};

// One pass of a method over the units: how a unit's layers run while it is learned and once
// it is done, and what is learned.
struct QuantStage {
  std::string name;
  LayerMode learning, done;
  bool initializes_activations = true;  // on the unit's X_q, in the learning mode
  ReconstructConfig reconstruct;        // iters 0: nothing is learned
};
// A method's passes for `images` calibration images (one; brecq two).
std::vector<QuantStage> method_stages(const QuantConfig& config, int images);

// Quantizes `model` on `calibration` images (N, C, S, S), normalised. The model's weights are
// left unchanged (its parameters are frozen: gradients flow only to the quantizers).
std::unique_ptr<QuantizedResNet> quantize(models::ResNet& model, const Tensor& calibration,
                                          const QuantConfig& config);

// quantize, checkpointed to PATH.state meanwhile, then saved to PATH (quantized_file.h); the
// checkpoint is removed once PATH is written.
std::unique_ptr<QuantizedResNet> quantize_to_file(models::ResNet& model, const Tensor& calibration,
                                                  QuantConfig config, const std::string& path);

}  // namespace genie
