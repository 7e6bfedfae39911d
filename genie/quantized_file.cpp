// Quantized model files; see quantized_file.h.
#include "genie/quantized_file.h"

#include <cstdlib>
#include <set>

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

const Tensor& required(const engine::TensorFile& f, const std::string& name,
                       const std::string& origin) {
  const Tensor* t = f.tensor(name);
  if (!t) throw engine::FileError(origin + ": missing tensor '" + name + "'");
  return *t;
}

// The quantizer of one layer, from its codes and parameters in the file.
QuantizedLayer read_layer(const engine::TensorFile& f, const std::string& layer,
                          const engine::CodeTensor& codes, const std::string& origin) {
  const Tensor& step = required(f, layer + ".weight_step", origin);
  const Tensor& zero_point = required(f, layer + ".weight_zero_point", origin);
  if (codes.shape.empty() || step.numel() != codes.shape[0] || zero_point.numel() != codes.shape[0])
    throw engine::FileError(origin + ": tensor '" + layer +
                            ".weight_step' or '.weight_zero_point' does not match the codes");
  engine::Shape channel(codes.shape.size(), 1);
  channel[0] = codes.shape[0];
  QuantizedLayer l;
  l.weight = std::make_unique<WeightQuantizer>(WeightQuantizer::from_codes(
      codes, Tensor(channel, step.values()), Tensor(channel, zero_point.values())));
  if (const Tensor* in = f.tensor(layer + ".input_quantizer")) {
    if (in->numel() != 3 || in->data()[0] < 2 || in->data()[0] > 8 || !(in->data()[2] > 0))
      throw engine::FileError(origin + ": tensor '" + layer +
                              ".input_quantizer' must be (bits 2..8, signed, step > 0)");
    l.input = std::make_shared<ActivationQuantizer>(static_cast<int>(in->data()[0]),
                                                    in->data()[1] != 0.0f, in->data()[2]);
  }
  return l;
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
  if (!is_quantized_file(file)) throw engine::FileError(origin + ": not a quantized model");
  // The float model, with each quantized weight replaced by its dequantized codes.
  engine::TensorFile float_file;
  float_file.metadata = file.metadata;
  std::map<std::string, QuantizedLayer> layers;
  for (auto& [name, codes] : file.codes) {
    if (!ends_with(name, kWeight))
      throw engine::FileError(origin + ": unexpected integer tensor '" + name + "'");
    std::string layer = layer_of_code(name);
    QuantizedLayer l = read_layer(file, layer, codes, origin);
    float_file.tensors.push_back({name, l.weight->hard_weights().detach()});
    layers[layer] = std::move(l);
  }
  for (auto& [name, t] : file.tensors) {
    bool quantizer = false;
    for (const char* suffix : {".weight_step", ".weight_zero_point", ".input_quantizer"})
      quantizer |= ends_with(name, suffix);
    if (!quantizer) float_file.tensors.push_back({name, t});
  }
  LoadedQuantizedModel out;
  out.model = std::make_unique<models::ResNet>(models::model_from_file(float_file, origin));
  QuantPolicy policy;
  const std::string *wbits = file.meta("wbits"), *abits = file.meta("abits");
  if (wbits) policy.weight_bits = std::atoi(wbits->c_str());
  if (abits) policy.activation_bits = std::atoi(abits->c_str());
  out.quantized = std::make_unique<QuantizedResNet>(*out.model, std::move(layers), policy);
  return out;
}

}  // namespace genie
