// The fake-quantized ResNet; see quantized_resnet.h.
#include "genie/quantized_resnet.h"

#include <stdexcept>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace genie {

namespace {

// The layers' names in network order: stem, each block's convs, its shortcut, classifier.
std::vector<std::string> layer_order(models::ResNet& model) {
  std::vector<std::string> names;
  for (models::Conv2d* c : model.convs()) names.push_back(c->name);
  names.push_back(model.classifier().name);
  return names;
}

}  // namespace

std::string skip_input_name(SkipInput skip) {
  return skip == SkipInput::quantized ? "quantized" : "float";
}

SkipInput parse_skip_input(const std::string& name) {
  if (name == "quantized") return SkipInput::quantized;
  if (name == "float") return SkipInput::full_precision;
  throw std::invalid_argument("--skip-input must be quantized or float, got '" + name + "'");
}

QuantizedResNet::QuantizedResNet(models::ResNet& model, const QuantPolicy& policy)
    : model_(model), policy_(policy) {
  std::vector<std::string> order = layer_order(model);
  const int last = static_cast<int>(order.size()) - 1;
  auto bits_for = [&](int i, bool weight) {
    int requested = weight ? policy.weight_bits : policy.activation_bits;
    if (!policy.first_last_8bit) return requested;
    if (i == last || (weight && i == 0) || (!weight && i == 1)) return 8;
    return requested;
  };
  int i = 0;
  for (models::Conv2d* c : model.convs()) {
    QuantizedLayer& l = layers_[c->name];
    l.weight = std::make_unique<WeightQuantizer>(c->weight, bits_for(i, true));
    if (i > 0) l.input = std::make_shared<ActivationQuantizer>(bits_for(i, false));
    ++i;
  }
  QuantizedLayer& fc = layers_[model.classifier().name];
  fc.weight = std::make_unique<WeightQuantizer>(model.classifier().weight, bits_for(last, true));
  fc.input = std::make_shared<ActivationQuantizer>(bits_for(last, false));
  share_block_input_quantizers();
}

// A block's first conv and its projection shortcut read the same input: one quantizer, one
// step, learned from both.
void QuantizedResNet::share_block_input_quantizers() {
  for (models::Block& b : model_.blocks())
    if (b.projection) layer(b.shortcut_conv.name).input = layer(b.convs[0].name).input;
}

QuantizedResNet::QuantizedResNet(models::ResNet& model,
                                 std::map<std::string, QuantizedLayer> layers,
                                 const QuantPolicy& policy)
    : model_(model), policy_(policy), layers_(std::move(layers)) {
  share_block_input_quantizers();
}

QuantizedLayer& QuantizedResNet::layer(const std::string& name) {
  auto it = layers_.find(name);
  if (it == layers_.end()) throw std::invalid_argument("no quantized layer '" + name + "'");
  return it->second;
}

Tensor QuantizedResNet::quantized_input(QuantizedLayer& l, const Tensor& x, engine::Rng& rng) {
  if (!l.input) return x;
  // Initialised even where this mode passes the input float (QDrop 0): a later mode quantizes.
  if (initializing_ && !l.input->initialized()) l.input->initialize(x);
  return l.input->forward(x, l.mode.p_quantized, rng);
}

void QuantizedResNet::initialize_activations(const Tensor& images, engine::Rng& rng, int unit) {
  engine::NoGrad no_grad;
  initializing_ = true;
  models::ForwardHooks h = hooks(rng);
  try {
    if (unit < 0)
      model_.forward(images, h);
    else
      model_.forward_unit(unit, images, h);
  } catch (...) {
    initializing_ = false;
    throw;
  }
  initializing_ = false;
}

Tensor QuantizedResNet::run_conv(const models::Conv2d& conv, const Tensor& x, engine::Rng& rng) {
  QuantizedLayer& l = layer(conv.name);
  Tensor w = l.mode.soft_bits ? l.weight->soft_weights() : l.weight->hard_weights();
  return engine::conv2d(quantized_input(l, x, rng), w, conv.bias, conv.stride, conv.padding);
}

Tensor QuantizedResNet::run_linear(const models::Linear& linear, const Tensor& x,
                                   engine::Rng& rng) {
  QuantizedLayer& l = layer(linear.name);
  Tensor w = l.mode.soft_bits ? l.weight->soft_weights() : l.weight->hard_weights();
  return engine::linear(quantized_input(l, x, rng), w, linear.bias);
}

models::ForwardHooks QuantizedResNet::hooks(engine::Rng& rng) {
  models::ForwardHooks h;
  h.conv = [this, &rng](const models::Conv2d& c, const Tensor& x) { return run_conv(c, x, rng); };
  h.linear = [this, &rng](const models::Linear& l, const Tensor& x) {
    return run_linear(l, x, rng);
  };
  h.skip_input = [this, &rng](const models::Block& b, const Tensor& x) {
    return skip_input(b, x, rng);
  };
  return h;
}

// Quantized, the skip is one more consumer of the block's quantizer: in the block's mode, with
// a QDrop mask of its own, as the reference draws one for each consumer of a shared quantizer.
Tensor QuantizedResNet::skip_input(const models::Block& b, const Tensor& x, engine::Rng& rng) {
  if (policy_.skip_input == SkipInput::full_precision) return x;
  return quantized_input(layer(b.convs[0].name), x, rng);
}

std::vector<QuantizedLayer*> QuantizedResNet::unit_layers(int unit) {
  std::vector<QuantizedLayer*> out;
  if (unit == 0) {
    out.push_back(&layer(model_.convs().front()->name));
  } else if (unit == model_.num_units() - 1) {
    out.push_back(&layer(model_.classifier().name));
  } else {
    models::Block& b = model_.blocks().at(unit - 1);
    for (models::Conv2d& c : b.convs) out.push_back(&layer(c.name));
    if (b.projection) out.push_back(&layer(b.shortcut_conv.name));
  }
  return out;
}

void QuantizedResNet::set_unit_mode(int unit, const LayerMode& mode) {
  for (QuantizedLayer* l : unit_layers(unit)) l->mode = mode;
}

void QuantizedResNet::to(engine::Device device) {
  model_.to(device);
  for (auto& [name, layer] : layers_) {
    layer.weight->to(device);
    if (layer.input)
      layer.input->to(device);  // a shared quantizer moves twice: the second is a no-op
  }
}

}  // namespace genie
