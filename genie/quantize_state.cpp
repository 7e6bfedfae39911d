// GENIE-M's checkpoint; see quantize_state.h.
#include "genie/quantize_state.h"

#include <zlib.h>

#include <cinttypes>
#include <cstdio>
#include <stdexcept>

#include "engine/tensor_file.h"
#include "genie/quantize.h"

namespace genie {

namespace {

uint32_t crc_of_values(uint32_t crc, const Tensor& t) {
  const std::vector<float> v = t.values();
  return static_cast<uint32_t>(
      crc32_z(crc, reinterpret_cast<const Bytef*>(v.data()), v.size() * sizeof(float)));
}

std::string hex(uint64_t v) {
  char s[20];
  std::snprintf(s, sizeof s, "%016" PRIx64, v);
  return s;
}

std::string float_text(float v) {
  char s[32];
  std::snprintf(s, sizeof s, "%.9g", v);
  return s;
}

[[noreturn]] void refuse(const std::string& path, const std::string& what) {
  throw engine::FileError(path + ": cannot resume: " + what);
}

const Tensor& stored(const engine::TensorFile& f, const std::string& name, const Tensor& like,
                     const std::string& path) {
  const Tensor* t = f.tensor(name);
  if (!t || t->shape() != like.shape())
    refuse(path,
           "tensor '" + name + "' is missing or not of shape " + engine::shape_str(like.shape()));
  return *t;
}

int stored_int(const engine::TensorFile& f, const std::string& key, const std::string& path) {
  const std::string* v = f.meta(key);
  try {
    size_t used = 0;
    int n = v ? std::stoi(*v, &used) : -1;
    if (v && used == v->size() && n >= 0) return n;
  } catch (const std::exception&) {
  }
  refuse(path, "metadata '" + key + "' is missing or not a count");
}

}  // namespace

RunIdentity run_identity(models::ResNet& model, const Tensor& calibration, const QuantConfig& c) {
  uint32_t model_crc = 0;
  for (auto& [name, tensor] : model.named_tensors()) model_crc = crc_of_values(model_crc, *tensor);
  std::vector<QuantStage> stages = method_stages(c, calibration.size(0));
  return {{"kind", "quantize-state"},
          {"arch", model.config().arch},
          {"model_crc32", hex(model_crc)},
          {"images", engine::shape_str(calibration.shape())},
          {"images_crc32", hex(crc_of_values(0, calibration))},
          {"method", method_name(c.method)},
          {"wbits", std::to_string(c.policy.weight_bits)},
          {"abits", std::to_string(c.policy.activation_bits)},
          {"first_last", c.policy.first_last_8bit ? "8" : "same"},
          {"skip_input", skip_input_name(c.policy.skip_input)},
          {"iters", std::to_string(c.iters)},
          {"batch", std::to_string(stages.front().reconstruct.batch)},
          {"qdrop", float_text(c.p_quantized)},
          {"round_weight", float_text(stages.front().reconstruct.round_weight)},
          {"seed", std::to_string(c.seed)}};
}

void save_quantize_state(const std::string& path, QuantizedResNet& q, const RunIdentity& identity,
                         QuantizePosition position, const engine::Rng& rng) {
  engine::TensorFile f;
  for (auto& [key, value] : identity) f.set_meta(key, value);
  f.set_meta("stage", std::to_string(position.stage));
  f.set_meta("unit", std::to_string(position.unit));
  std::string state;
  for (uint64_t word : rng.state()) state += hex(word);
  f.set_meta("rng", state);
  for (auto& [name, layer] : q.layers()) {
    f.tensors.push_back({name + ".weight_step", layer.weight->step.to(engine::Device::CPU)});
    f.tensors.push_back({name + ".soft_bits", layer.weight->soft_bits.to(engine::Device::CPU)});
    if (layer.input && layer.input->initialized())
      f.tensors.push_back(
          {name + ".input_quantizer",
           Tensor({2}, {layer.input->is_signed() ? 1.0f : 0.0f, layer.input->step.item()})});
  }
  engine::write_tensor_file(path, f);
}

QuantizePosition load_quantize_state(const std::string& path, QuantizedResNet& q,
                                     const RunIdentity& identity, engine::Rng& rng) {
  engine::TensorFile f = engine::read_tensor_file(path);
  for (auto& [key, value] : identity) {
    const std::string* had = f.meta(key);
    if (!had || *had != value)
      refuse(path, "it was made with " + key + "=" + (had ? *had : "(none)") + ", this run has " +
                       key + "=" + value);
  }
  const std::string* words = f.meta("rng");
  engine::Rng::State state{};
  if (!words || words->size() != 64) refuse(path, "metadata 'rng' is missing or damaged");
  if (words->find_first_not_of("0123456789abcdef") != std::string::npos)
    refuse(path, "metadata 'rng' is not hexadecimal");
  for (int i = 0; i < 4; ++i) state[i] = std::stoull(words->substr(16 * i, 16), nullptr, 16);
  for (auto& [name, layer] : q.layers()) {
    WeightQuantizer& w = *layer.weight;
    w.step.copy_from(stored(f, name + ".weight_step", w.step, path));
    w.soft_bits.copy_from(stored(f, name + ".soft_bits", w.soft_bits, path));
    const Tensor* in = f.tensor(name + ".input_quantizer");
    if (!in) continue;
    if (!layer.input || in->numel() != 2 || !(in->data()[1] > 0.0f))
      refuse(path, "tensor '" + name + ".input_quantizer' does not fit this model");
    engine::Device device = w.step.device();
    *layer.input = ActivationQuantizer(layer.input->bits(), in->data()[0] != 0.0f, in->data()[1]);
    layer.input->to(device);
  }
  rng.set_state(state);
  return {stored_int(f, "stage", path), stored_int(f, "unit", path)};
}

}  // namespace genie
