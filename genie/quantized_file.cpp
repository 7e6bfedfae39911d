// Quantized model files; see quantized_file.h.
//
// Every value is checked where it enters: bit widths against the metadata, steps positive and
// finite, zero points integers, code shapes without empty dimensions, so a damaged file is an
// error naming the file and the tensor rather than NaN logits or a crash in a later division.
#include "genie/quantized_file.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <stdexcept>

#include "models/model_file.h"

namespace genie {

namespace {

const std::string kWeight = ".weight";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string layer_of_code(const std::string& tensor_name) {
  return tensor_name.substr(0, tensor_name.size() - kWeight.size());
}

[[noreturn]] void refuse(const std::string& origin, const std::string& what) {
  throw engine::FileError(origin + ": " + what);
}

const Tensor& required(const engine::TensorFile& f, const std::string& name,
                       const std::string& origin) {
  const Tensor* t = f.tensor(name);
  if (!t) refuse(origin, "missing tensor '" + name + "'");
  return *t;
}

// What the metadata allows: the requested widths, and 8 bits where first_last is "8".
struct BitsPolicy {
  QuantPolicy policy;
  bool allows(int bits, bool weight) const {
    int requested = weight ? policy.weight_bits : policy.activation_bits;
    return bits == requested || (policy.first_last_8bit && bits == 8);
  }
};

int bits_meta(const engine::TensorFile& f, const std::string& key, const std::string& origin) {
  const std::string* v = f.meta(key);
  if (!v) refuse(origin, "missing metadata key '" + key + "'");
  if (v->size() != 1 || (*v)[0] < '1' || (*v)[0] > '8')
    refuse(origin, "metadata '" + key + "' must be a bit width 1..8, got '" + *v + "'");
  return (*v)[0] - '0';
}

BitsPolicy policy_from_file(const engine::TensorFile& f, const std::string& origin) {
  BitsPolicy p;
  p.policy.weight_bits = bits_meta(f, "wbits", origin);
  p.policy.activation_bits = bits_meta(f, "abits", origin);
  const std::string* first_last = f.meta("first_last");
  if (!first_last || (*first_last != "8" && *first_last != "same"))
    refuse(origin, "metadata 'first_last' must be '8' or 'same'");
  p.policy.first_last_8bit = *first_last == "8";
  // Files written before the key existed read the block input quantized, as they were made.
  if (const std::string* skip = f.meta("skip_input")) {
    try {
      p.policy.skip_input = parse_skip_input(*skip);
    } catch (const std::invalid_argument&) {  // its message names the flag, not the file
      refuse(origin, "metadata 'skip_input' must be 'quantized' or 'float', got '" + *skip + "'");
    }
  }
  return p;
}

// Per-channel step and zero point: one per output channel, steps finite and positive, zero
// points finite integers.
void check_channel_params(const Tensor& step, const Tensor& zero_point, int channels,
                          const std::string& layer, const std::string& origin) {
  if (step.numel() != channels || zero_point.numel() != channels)
    refuse(origin, "tensor '" + layer + ".weight_step' or '.weight_zero_point' does not match " +
                       std::to_string(channels) + " output channels of the codes");
  for (int c = 0; c < channels; ++c) {
    float s = step.data()[c], z = zero_point.data()[c];
    if (!std::isfinite(s) || !(s > 0.0f))
      refuse(origin, "tensor '" + layer + ".weight_step' holds " + std::to_string(s) +
                         " at index " + std::to_string(c) + ", not a finite step > 0");
    if (!std::isfinite(z) || z != std::nearbyint(z))
      refuse(origin, "tensor '" + layer + ".weight_zero_point' holds " + std::to_string(z) +
                         " at index " + std::to_string(c) + ", not an integer");
  }
}

std::shared_ptr<ActivationQuantizer> read_input_quantizer(const Tensor& in,
                                                          const std::string& layer,
                                                          const BitsPolicy& bits,
                                                          const std::string& origin) {
  const std::string name = "tensor '" + layer + ".input_quantizer'";
  if (in.numel() != 3) refuse(origin, name + " must hold 3 values (bits, signed, step)");
  float b = in.data()[0], is_signed = in.data()[1], step = in.data()[2];
  if (!(b >= 2 && b <= 8) || b != std::nearbyint(b) || !bits.allows(static_cast<int>(b), false))
    refuse(origin, name + " bits " + std::to_string(b) + " do not match abits " +
                       std::to_string(bits.policy.activation_bits));
  if (is_signed != 0.0f && is_signed != 1.0f) refuse(origin, name + " signed must be 0 or 1");
  if (!std::isfinite(step) || !(step > 0.0f))
    refuse(origin, name + " step " + std::to_string(step) + " is not a finite step > 0");
  return std::make_shared<ActivationQuantizer>(static_cast<int>(b), is_signed != 0.0f, step);
}

// The quantizer of one layer, from its codes and parameters in the file.
QuantizedLayer read_layer(const engine::TensorFile& f, const std::string& layer,
                          const engine::CodeTensor& codes, const BitsPolicy& bits,
                          const std::string& origin) {
  const std::string name = "tensor '" + layer + kWeight + "'";
  if (codes.shape.empty() || engine::numel_of(codes.shape) == 0)
    refuse(origin, name + " has shape " + engine::shape_str(codes.shape) +
                       ", but quantized weights need at least one element");
  if (!bits.allows(codes.bits, true))
    refuse(origin, name + " has " + std::to_string(codes.bits) + "-bit codes, but wbits is " +
                       std::to_string(bits.policy.weight_bits));
  const Tensor& step = required(f, layer + ".weight_step", origin);
  const Tensor& zero_point = required(f, layer + ".weight_zero_point", origin);
  check_channel_params(step, zero_point, codes.shape[0], layer, origin);
  engine::Shape channel(codes.shape.size(), 1);
  channel[0] = codes.shape[0];
  QuantizedLayer l;
  l.weight = std::make_unique<WeightQuantizer>(WeightQuantizer::from_codes(
      codes, Tensor(channel, step.values()), Tensor(channel, zero_point.values())));
  if (const Tensor* in = f.tensor(layer + ".input_quantizer"))
    l.input = read_input_quantizer(*in, layer, bits, origin);
  return l;
}

// Every conv and the classifier of a quantized model must come as codes.
void check_all_quantized(models::ResNet& model, const std::map<std::string, QuantizedLayer>& layers,
                         const std::string& origin) {
  std::vector<std::string> names;
  for (models::Conv2d* c : model.convs()) names.push_back(c->name);
  names.push_back(model.classifier().name);
  for (const std::string& name : names)
    if (!layers.count(name)) refuse(origin, "tensor '" + name + kWeight + "' is not integer codes");
}

}  // namespace

bool is_quantized_file(const engine::TensorFile& file) {
  const std::string* q = file.meta("quantized");
  return q && *q == "1";
}

void save_quantized(const std::string& path, QuantizedResNet& q, const std::string& method) {
  engine::TensorFile f = models::model_to_file(q.model());
  std::set<std::string> replaced;
  for (auto& [name, layer] : q.layers()) replaced.insert(name + kWeight);
  std::vector<std::pair<std::string, Tensor>> kept;
  for (auto& t : f.tensors)
    if (!replaced.count(t.first)) kept.push_back(t);
  f.tensors = kept;
  f.set_meta("quantized", "1");
  f.set_meta("method", method);
  f.set_meta("wbits", std::to_string(q.policy().weight_bits));
  f.set_meta("abits", std::to_string(q.policy().activation_bits));
  f.set_meta("first_last", q.policy().first_last_8bit ? "8" : "same");
  f.set_meta("skip_input", skip_input_name(q.policy().skip_input));
  for (auto& [name, layer] : q.layers()) {
    f.codes.push_back({name + kWeight, layer.weight->codes()});
    f.tensors.push_back(
        {name + ".weight_step", Tensor({layer.weight->step.size(0)}, layer.weight->step.values())});
    f.tensors.push_back({name + ".weight_zero_point", Tensor({layer.weight->zero_point.size(0)},
                                                             layer.weight->zero_point.values())});
    if (layer.input && layer.input->initialized())
      f.tensors.push_back(
          {name + ".input_quantizer",
           Tensor({3}, {static_cast<float>(layer.input->bits()),
                        layer.input->is_signed() ? 1.0f : 0.0f, layer.input->step.item()})});
  }
  engine::write_tensor_file(path, f);
}

LoadedQuantizedModel load_quantized(const engine::TensorFile& file, const std::string& origin) {
  if (!is_quantized_file(file)) refuse(origin, "not a quantized model");
  BitsPolicy bits = policy_from_file(file, origin);
  // The float model, with each quantized weight replaced by its dequantized codes.
  engine::TensorFile float_file;
  float_file.metadata = file.metadata;
  std::map<std::string, QuantizedLayer> layers;
  for (auto& [name, codes] : file.codes) {
    if (!ends_with(name, kWeight)) refuse(origin, "unexpected integer tensor '" + name + "'");
    std::string layer = layer_of_code(name);
    QuantizedLayer l = read_layer(file, layer, codes, bits, origin);
    float_file.tensors.push_back({name, l.weight->hard_weights().detach()});
    layers[layer] = std::move(l);
  }
  for (auto& [name, t] : file.tensors) {
    std::string quantizer_of;
    for (const std::string suffix : {".weight_step", ".weight_zero_point", ".input_quantizer"})
      if (ends_with(name, suffix)) quantizer_of = name.substr(0, name.size() - suffix.size());
    if (quantizer_of.empty())
      float_file.tensors.push_back({name, t});
    else if (!layers.count(quantizer_of))
      refuse(origin, "tensor '" + name + "' belongs to no layer with integer codes");
  }
  LoadedQuantizedModel out;
  out.model = std::make_unique<models::ResNet>(models::model_from_file(float_file, origin));
  check_all_quantized(*out.model, layers, origin);
  out.quantized = std::make_unique<QuantizedResNet>(*out.model, std::move(layers), bits.policy);
  return out;
}

}  // namespace genie
