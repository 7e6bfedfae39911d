// A fake-quantized ResNet: the float model, untouched, plus a weight quantizer and an input
// activation quantizer per conv and linear, applied through the model's ForwardHooks.
//
// Placement (docs/METHOD.md, "Placement"): every conv and the classifier get a weight
// quantizer and an input quantizer; a block's first conv and its projection shortcut share one
// quantizer for the block's input. A parameter-free shortcut (identity or option A) reads that
// input quantized by the same quantizer, or float (QuantPolicy::skip_input). Each consumer of
// the shared quantizer draws its own QDrop mask while learning. BN, ReLU, add and pooling stay
// float. With the reference's first/last policy: the stem conv has 8-bit weights and a float
// input, the second layer an 8-bit input, the classifier 8-bit weights and input.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "genie/activation_quantizer.h"
#include "genie/weight_quantizer.h"
#include "models/resnet.h"

namespace genie {

// What a parameter-free shortcut reads of its block's input.
enum class SkipInput {
  quantized,       // the input through the block's quantizer: what an integer pipeline passes
                   // between blocks, and the reference's choice for identity shortcuts
  full_precision,  // the float input, as if the skip connection were kept at full precision
};
std::string skip_input_name(SkipInput skip);  // "quantized" or "float"
// Throws std::invalid_argument for anything but "quantized" or "float".
SkipInput parse_skip_input(const std::string& name);

struct QuantPolicy {
  int weight_bits = 4;
  int activation_bits = 4;
  bool first_last_8bit = true;  // false: every layer at the requested bits (the stem input
                                // stays float: the image itself is the data)
  SkipInput skip_input = SkipInput::quantized;
};

// How a quantized layer runs at one moment. The default is evaluation's: hard rounding, every
// input element quantized. GENIE-M sets it per unit and stage (quantize.cpp, set_unit_mode).
struct LayerMode {
  bool soft_bits = false;    // weights from the soft bits h(V), else hard rounding
  float p_quantized = 1.0f;  // probability that an input element takes its quantized value:
                             // 1 quantized, 0 float (BRECQ's weight stage), between: QDrop
};

// One quantized conv or linear.
struct QuantizedLayer {
  std::unique_ptr<WeightQuantizer> weight;
  std::shared_ptr<ActivationQuantizer> input;  // null: the input stays float
  LayerMode mode;
};

class QuantizedResNet {
 public:
  // Builds every weight quantizer (clip search); the activation quantizers wait for
  // initialize_activations.
  QuantizedResNet(models::ResNet& model, const QuantPolicy& policy);
  // An empty shell for a quantized model file to fill (see quantized_file.h).
  QuantizedResNet(models::ResNet& model, std::map<std::string, QuantizedLayer> layers,
                  const QuantPolicy& policy);

  // Hooks that run every conv and the classifier fake-quantized; `rng` draws QDrop masks.
  models::ForwardHooks hooks(engine::Rng& rng);
  // The layers of reconstruction unit `unit`, in order.
  std::vector<QuantizedLayer*> unit_layers(int unit);
  void set_unit_mode(int unit, const LayerMode& mode);
  // Initialises the activation quantizers that unit `unit` (-1: the whole network) reaches
  // first, on `images` run through it in the current modes; `rng` draws its QDrop masks.
  void initialize_activations(const Tensor& images, engine::Rng& rng, int unit = -1);
  QuantizedLayer& layer(const std::string& name);
  std::map<std::string, QuantizedLayer>& layers() { return layers_; }
  models::ResNet& model() { return model_; }
  const QuantPolicy& policy() const { return policy_; }
  // Moves the model and every quantizer to `device` (a quantized file is read on the host).
  void to(engine::Device device);

 private:
  Tensor run_conv(const models::Conv2d& conv, const Tensor& x, engine::Rng& rng);
  Tensor run_linear(const models::Linear& linear, const Tensor& x, engine::Rng& rng);
  Tensor quantized_input(QuantizedLayer& layer, const Tensor& x, engine::Rng& rng);
  Tensor skip_input(const models::Block& block, const Tensor& x, engine::Rng& rng);
  void share_block_input_quantizers();

  models::ResNet& model_;
  QuantPolicy policy_;
  bool initializing_ = false;  // inside initialize_activations: a quantizer may initialise
  std::map<std::string, QuantizedLayer> layers_;  // by layer name, e.g. "layer1.0.conv1"
};

}  // namespace genie
