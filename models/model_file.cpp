// ResNet <-> tensor file; see model_file.h.
//
// Everything a file says is checked before the model is built: the metadata against sane limits,
// and the tensor list and shapes the metadata implies against the tensors the file holds, so a
// tiny file claiming a huge model is refused before anything is allocated for it. Values are
// checked where they enter: a NaN weight would otherwise surface as wrong logits much later.
#include "models/model_file.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

namespace models {

namespace {

// Far above any model this engine trains or converts, far below sizes that exhaust memory.
constexpr int kMaxWidth = 4096;
constexpr int kMaxClasses = 100000;
constexpr int kMaxInChannels = 16;
constexpr int kMaxInputSize = 4096;

[[noreturn]] void refuse(const std::string& origin, const std::string& what) {
  throw engine::FileError(origin + ": " + what);
}

const std::string& required_meta(const engine::TensorFile& f, const std::string& key,
                                 const std::string& origin) {
  const std::string* v = f.meta(key);
  if (!v) throw engine::FileError(origin + ": missing metadata key '" + key + "'");
  return *v;
}

int int_meta(const engine::TensorFile& f, const std::string& key, const std::string& origin,
             int min, int max) {
  const std::string& v = required_meta(f, key, origin);
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < min || n > max)
    refuse(origin, "metadata '" + key + "' must be an integer in " + std::to_string(min) + ".." +
                       std::to_string(max) + ", got '" + v + "'");
  return static_cast<int>(n);
}

std::vector<float> floats_meta(const engine::TensorFile& f, const std::string& key,
                               const std::string& origin) {
  std::vector<float> out;
  std::stringstream in(required_meta(f, key, origin));
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    float v = std::strtof(item.c_str(), &end);
    if (item.empty() || *end != '\0')
      refuse(origin, "metadata '" + key + "' must be comma-separated numbers");
    if (!std::isfinite(v))
      refuse(origin, "metadata '" + key + "' holds '" + item + "', not a finite number");
    out.push_back(v);
  }
  return out;
}

std::string join(const std::vector<float>& v) {
  std::ostringstream out;
  out.precision(9);
  for (size_t i = 0; i < v.size(); ++i) out << (i ? "," : "") << v[i];
  return out.str();
}

ModelConfig config_from_file(const engine::TensorFile& f, const std::string& origin) {
  ModelConfig c;
  c.arch = required_meta(f, "arch", origin);
  const std::string* shortcut = f.meta("shortcut");
  c.shortcut = shortcut && !shortcut->empty() ? (*shortcut)[0] : 'A';
  if (shortcut && shortcut->size() != 1)
    throw engine::FileError(origin + ": metadata 'shortcut' must be A or B");
  if (f.meta("width")) c.width = int_meta(f, "width", origin, 2, kMaxWidth);
  c.num_classes = int_meta(f, "num_classes", origin, 1, kMaxClasses);
  c.in_channels = int_meta(f, "in_channels", origin, 1, kMaxInChannels);
  c.input_size = int_meta(f, "input_size", origin, 1, kMaxInputSize);
  c.mean = floats_meta(f, "mean", origin);
  c.std = floats_meta(f, "std", origin);
  for (float s : c.std)
    if (!(s > 0.0f)) refuse(origin, "metadata 'std' values must be positive");
  try {
    validate(c);
  } catch (const std::invalid_argument& e) {
    throw engine::FileError(origin + ": " + e.what());
  }
  return c;
}

using NamedShapes = std::vector<std::pair<std::string, engine::Shape>>;

NamedShapes shapes_of(const ModelConfig& c) {
  ResNet probe(c);
  NamedShapes out;
  for (auto& [name, tensor] : probe.named_tensors()) out.emplace_back(name, tensor->shape());
  return out;
}

// The tensors `c` implies, by name and shape, without building the model at its full size.
// Every dimension of a ResNet's tensors is a constant (kernel, input channels, classes) or
// linear in the width, so probes at widths 2 and 4 give each shape at any width exactly.
NamedShapes expected_tensors(const ModelConfig& c) {
  int width = c.width > 0 ? c.width : (is_cifar_arch(c.arch) ? 16 : 64);
  ModelConfig probe = c;
  probe.width = 2;
  NamedShapes at2 = shapes_of(probe);
  probe.width = 4;
  NamedShapes at4 = shapes_of(probe);
  for (size_t i = 0; i < at2.size(); ++i)
    for (size_t d = 0; d < at2[i].second.size(); ++d) {
      int64_t a = at2[i].second[d], b = at4[i].second[d];
      at2[i].second[d] = static_cast<int>(a + (b - a) * (width - 2) / 2);
    }
  return at2;
}

// Every expected tensor present with its exact shape, nothing else, every value finite.
void check_tensors(const engine::TensorFile& f, const ModelConfig& c, const std::string& origin) {
  std::set<std::string> expected;
  for (const auto& [name, shape] : expected_tensors(c)) {
    expected.insert(name);
    const engine::Tensor* stored = f.tensor(name);
    if (!stored) refuse(origin, "missing tensor '" + name + "'");
    if (stored->shape() != shape)
      refuse(origin, "tensor '" + name + "' has shape " + engine::shape_str(stored->shape()) +
                         ", " + c.arch + " needs " + engine::shape_str(shape));
  }
  for (const auto& [name, tensor] : f.tensors) {
    if (!expected.count(name)) refuse(origin, "unexpected tensor '" + name + "' for " + c.arch);
    // A negative variance would make BatchNorm's square root NaN.
    bool variance = name.size() >= 12 && name.compare(name.size() - 12, 12, ".running_var") == 0;
    const std::vector<float>& v = tensor.values();
    for (size_t i = 0; i < v.size(); ++i)
      if (!std::isfinite(v[i]) || (variance && v[i] < 0))
        refuse(origin, "tensor '" + name + "' holds " + std::to_string(v[i]) + " at index " +
                           std::to_string(i) +
                           (variance ? ", not a finite variance >= 0" : ", not a finite number"));
  }
}

}  // namespace

ResNet model_from_file(const engine::TensorFile& f, const std::string& origin) {
  ModelConfig config = config_from_file(f, origin);
  check_tensors(f, config, origin);
  ResNet model(config);
  for (auto& [name, tensor] : model.named_tensors()) tensor->copy_from(*f.tensor(name));
  return model;
}

engine::TensorFile model_to_file(ResNet& model) {
  const ModelConfig& c = model.config();
  engine::TensorFile f;
  f.set_meta("arch", c.arch);
  if (is_cifar_arch(c.arch)) f.set_meta("shortcut", std::string(1, c.shortcut));
  if (c.width > 0) f.set_meta("width", std::to_string(c.width));
  f.set_meta("num_classes", std::to_string(c.num_classes));
  f.set_meta("in_channels", std::to_string(c.in_channels));
  f.set_meta("input_size", std::to_string(c.input_size));
  f.set_meta("mean", join(c.mean));
  f.set_meta("std", join(c.std));
  for (auto& [name, tensor] : model.named_tensors()) f.tensors.push_back({name, tensor->clone()});
  return f;
}

ResNet load_model(const std::string& path) {
  return model_from_file(engine::read_tensor_file(path), path);
}

void save_model(const std::string& path, ResNet& model) {
  engine::write_tensor_file(path, model_to_file(model));
}

}  // namespace models
