// ResNet <-> tensor file; see model_file.h.
#include "models/model_file.h"

#include <cstdlib>
#include <set>
#include <sstream>

namespace models {

namespace {

const std::string& required_meta(const engine::TensorFile& f, const std::string& key,
                                 const std::string& origin) {
  const std::string* v = f.meta(key);
  if (!v) throw engine::FileError(origin + ": missing metadata key '" + key + "'");
  return *v;
}

int int_meta(const engine::TensorFile& f, const std::string& key, const std::string& origin) {
  const std::string& v = required_meta(f, key, origin);
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < 0 || n > 1000000)
    throw engine::FileError(origin + ": metadata '" + key + "' must be an integer, got '" + v +
                            "'");
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
      throw engine::FileError(origin + ": metadata '" + key + "' must be comma-separated numbers");
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
  if (f.meta("width")) c.width = int_meta(f, "width", origin);
  c.num_classes = int_meta(f, "num_classes", origin);
  c.in_channels = int_meta(f, "in_channels", origin);
  c.input_size = int_meta(f, "input_size", origin);
  c.mean = floats_meta(f, "mean", origin);
  c.std = floats_meta(f, "std", origin);
  try {
    validate(c);
  } catch (const std::invalid_argument& e) {
    throw engine::FileError(origin + ": " + e.what());
  }
  return c;
}

}  // namespace

ResNet model_from_file(const engine::TensorFile& f, const std::string& origin) {
  ResNet model(config_from_file(f, origin));
  std::set<std::string> expected;
  for (auto& [name, tensor] : model.named_tensors()) {
    expected.insert(name);
    const engine::Tensor* stored = f.tensor(name);
    if (!stored) throw engine::FileError(origin + ": missing tensor '" + name + "'");
    if (stored->shape() != tensor->shape())
      throw engine::FileError(origin + ": tensor '" + name + "' has shape " +
                              engine::shape_str(stored->shape()) + ", " + model.config().arch +
                              " needs " + engine::shape_str(tensor->shape()));
    tensor->copy_from(*stored);
  }
  for (auto& [name, tensor] : f.tensors)
    if (!expected.count(name))
      throw engine::FileError(origin + ": unexpected tensor '" + name + "' for " +
                              model.config().arch);
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
