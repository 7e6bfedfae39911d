// Nothing damaged is ever read as good: every changed byte of a model file is refused by its
// checksums, and values that are well-formed bytes but impossible numbers (NaN weights, a zero
// step, a code tensor with no elements, a huge declared width) are refused where they enter,
// each with a message naming the file and the tensor or metadata key.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/rng.h"
#include "engine/tensor_file.h"
#include "genie/quantized_file.h"
#include "models/model_file.h"
#include "tests/file_bytes.h"
#include "tests/tiny_models.h"

using testing::Bytes;
using testing::read_bytes;

namespace {

std::string scratch(const std::string& name) {
  static const std::filesystem::path dir = [] {
    auto p = std::filesystem::temp_directory_path() /
             ("genie_test_file_integrity_" + std::to_string(getpid()));
    std::filesystem::create_directories(p);
    return p;
  }();
  return (dir / name).string();
}

// The error of parsing `bytes` as a model, or "" when it loads.
std::string model_error(const Bytes& bytes, const std::string& origin) {
  try {
    models::model_from_file(engine::parse_tensor_file(bytes, origin), origin);
  } catch (const engine::FileError& e) {
    return e.what();
  }
  return "";
}

std::string quantized_error(const engine::TensorFile& file) {
  try {
    genie::load_quantized(file, "q.gw");
  } catch (const engine::FileError& e) {
    return e.what();
  }
  return "";
}

// Tensors share their storage when copied; a test that damages one copy needs its own.
engine::TensorFile deep_copy(const engine::TensorFile& f) {
  engine::TensorFile out = f;
  for (auto& [name, t] : out.tensors) t = t.clone();
  return out;
}

// A tiny option-A ResNet-20 quantized under `policy`, saved as `name` and read back.
engine::TensorFile tiny_quantized_file(const genie::QuantPolicy& policy, const std::string& name) {
  models::ResNet m(testing::tiny_resnet20('A'));
  genie::QuantizedResNet q(m, policy);
  engine::Rng rng(1);
  q.initialize_activations(engine::randn({2, 1, 8, 8}, rng), rng);
  genie::save_quantized(scratch(name), q, "test");
  return engine::read_tensor_file(scratch(name));
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Changes each byte at `offsets` in turn (xor 0xFF) and requires every copy to be refused.
int count_refused(const Bytes& whole, const std::vector<size_t>& offsets) {
  int refused = 0;
  Bytes b = whole;
  for (size_t at : offsets) {
    b[at] ^= 0xFF;
    std::string message = model_error(b, "flipped.gw");
    INFO("byte " << at << ": " << message);
    CHECK(contains(message, "flipped.gw: "));
    refused += !message.empty();
    b[at] ^= 0xFF;
  }
  return refused;
}

}  // namespace

TEST_CASE("every single changed byte of a small model file is refused") {
  // Width 2 keeps the file at 22 KB: flipping every byte parses it once per byte.
  models::ModelConfig config = testing::tiny_resnet20();
  config.width = 2;
  models::ResNet m(config);
  std::string path = scratch("tiny.gw");
  models::save_model(path, m);
  Bytes whole = read_bytes(path);
  CHECK(model_error(whole, "flipped.gw").empty());
  std::vector<size_t> every(whole.size());
  for (size_t i = 0; i < whole.size(); ++i) every[i] = i;
  MESSAGE(whole.size() << " bytes flipped one at a time");
  CHECK(count_refused(whole, every) == static_cast<int>(whole.size()));
}

TEST_CASE("changed bytes of data/default.gw are refused: all headers, sampled weights") {
  Bytes whole = read_bytes("data/default.gw");
  testing::FileLayout layout = testing::layout_of(whole);
  REQUIRE(layout.tensors.back().end + 4 == whole.size());
  // Every byte outside tensor data (header, metadata, tensor headers, checksums), and the first,
  // last and every 4099th byte of each tensor's data.
  std::vector<size_t> offsets;
  size_t outside_from = 0;
  for (const testing::TensorSpan& t : layout.tensors) {
    for (size_t i = outside_from; i < t.data; ++i) offsets.push_back(i);
    for (size_t i = t.data; i < t.end; i += 4099) offsets.push_back(i);
    if (t.end > t.data) offsets.push_back(t.end - 1);
    outside_from = t.end;
  }
  for (size_t i = outside_from; i < whole.size(); ++i) offsets.push_back(i);
  MESSAGE(offsets.size() << " of " << whole.size() << " bytes flipped one at a time");
  CHECK(count_refused(whole, offsets) == static_cast<int>(offsets.size()));
}

TEST_CASE("a model with a NaN weight or NaN metadata is refused, naming the tensor or key") {
  models::ResNet m(testing::tiny_resnet20());
  const engine::TensorFile good = models::model_to_file(m);
  auto error = [](const engine::TensorFile& f) {
    try {
      models::model_from_file(f, "nan.gw");
    } catch (const engine::FileError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error(good).empty());

  engine::TensorFile f = deep_copy(good);
  f.tensors[2].second.data()[1] = std::nanf("");
  CHECK(contains(error(f), "nan.gw: tensor '" + f.tensors[2].first + "' holds nan at index 1"));

  f = deep_copy(good);
  f.tensors.back().second.data()[0] = INFINITY;
  CHECK(contains(error(f), "nan.gw: tensor '" + f.tensors.back().first + "' holds inf"));

  f = deep_copy(good);
  for (auto& [name, t] : f.tensors)
    if (name == "bn1.running_var") t.data()[0] = -1.0f;
  CHECK(contains(error(f), "nan.gw: tensor 'bn1.running_var' holds -1"));

  for (const char* key : {"mean", "std"}) {
    f = deep_copy(good);
    f.set_meta(key, "nan");
    CHECK(contains(error(f), std::string("nan.gw: metadata '") + key + "' holds 'nan'"));
  }
  f = deep_copy(good);
  f.set_meta("std", "0");
  CHECK(contains(error(f), "nan.gw: metadata 'std' values must be positive"));
}

TEST_CASE("a model file claiming a huge model is refused before the model is built") {
  models::ResNet m(testing::tiny_resnet20());
  engine::TensorFile f = models::model_to_file(m);
  // ResNet-50 at width 4096 would need about 400 GB: only the probes may be built.
  f.set_meta("arch", "resnet50");
  f.set_meta("width", "4096");
  f.set_meta("input_size", "224");
  f.tensors.clear();
  CHECK_THROWS_WITH_AS(models::model_from_file(f, "huge.gw"),
                       doctest::Contains("huge.gw: missing tensor 'conv1.weight'"),
                       engine::FileError);
  f.set_meta("width", "4098");
  CHECK_THROWS_WITH_AS(models::model_from_file(f, "huge.gw"),
                       doctest::Contains("huge.gw: metadata 'width' must be an integer in 2..4096"),
                       engine::FileError);

  // The file's tensor at the claimed width: shapes are checked before the model is built.
  f = models::model_to_file(m);
  f.set_meta("width", "400");
  CHECK_THROWS_WITH_AS(models::model_from_file(f, "wide.gw"),
                       doctest::Contains("wide.gw: tensor 'conv1.weight' has shape (4, 1, 3, 3), "
                                         "resnet20 needs (400, 1, 3, 3)"),
                       engine::FileError);
}

TEST_CASE("quantized files: codes, steps, zero points and bits are checked against the metadata") {
  genie::QuantPolicy policy;
  policy.weight_bits = 4;
  const engine::TensorFile good = tiny_quantized_file(policy, "q.gw");
  REQUIRE(quantized_error(good).empty());
  const std::string layer = "layer1.0.conv1";
  auto with_tensor = [&](const std::string& name, auto change) {
    engine::TensorFile f = deep_copy(good);
    for (auto& [n, t] : f.tensors)
      if (n == name) {
        std::vector<float> v = t.values();
        change(v);
        t.set_values(v);
      }
    return quantized_error(f);
  };

  engine::TensorFile f = deep_copy(good);
  for (auto& [name, c] : f.codes)
    if (name == layer + ".weight") c = engine::CodeTensor{{0, 4, 3, 3}, 4, {}};
  CHECK(contains(quantized_error(f), "q.gw: tensor '" + layer +
                                         ".weight' has shape (0, 4, 3, 3), but quantized weights "
                                         "need at least one element"));

  f = deep_copy(good);
  for (auto& [name, c] : f.codes)
    if (name == layer + ".weight") c.bits = 5;
  CHECK(contains(quantized_error(f), "q.gw: tensor '" + layer + ".weight' has 5-bit codes"));

  CHECK(contains(with_tensor(layer + ".weight_step", [](auto& v) { v[1] = std::nanf(""); }),
                 "q.gw: tensor '" + layer + ".weight_step' holds nan at index 1"));
  CHECK(contains(with_tensor(layer + ".weight_step", [](auto& v) { v[0] = 0.0f; }),
                 "q.gw: tensor '" + layer + ".weight_step' holds 0.000000 at index 0"));
  CHECK(contains(with_tensor(layer + ".weight_zero_point", [](auto& v) { v[2] = 0.5f; }),
                 "q.gw: tensor '" + layer + ".weight_zero_point' holds 0.500000 at index 2"));
  CHECK(contains(with_tensor(layer + ".input_quantizer", [](auto& v) { v[2] = -1.0f; }),
                 "q.gw: tensor '" + layer + ".input_quantizer' step -1"));
  CHECK(contains(with_tensor(layer + ".input_quantizer", [](auto& v) { v[0] = 3.0f; }),
                 "q.gw: tensor '" + layer + ".input_quantizer' bits 3"));

  f = deep_copy(good);
  f.set_meta("wbits", "9");
  CHECK(contains(quantized_error(f), "q.gw: metadata 'wbits' must be a bit width 1..8"));
  f = deep_copy(good);
  f.tensors.push_back({"nowhere.weight_step", engine::Tensor({1}, {1.0f})});
  CHECK(contains(quantized_error(f), "q.gw: tensor 'nowhere.weight_step' belongs to no layer"));
}

TEST_CASE("quantized files record what the skip reads; a file without the key reads it quantized") {
  genie::QuantPolicy policy;
  policy.skip_input = genie::SkipInput::full_precision;
  const std::string path = "skip.gw";
  const engine::TensorFile good = tiny_quantized_file(policy, path);
  REQUIRE(good.meta("skip_input") != nullptr);
  CHECK(*good.meta("skip_input") == "float");
  CHECK(genie::load_quantized(good, path).quantized->policy().skip_input ==
        genie::SkipInput::full_precision);

  engine::TensorFile older = deep_copy(good);
  auto& meta = older.metadata;
  meta.erase(std::remove_if(meta.begin(), meta.end(),
                            [](const auto& kv) { return kv.first == "skip_input"; }),
             meta.end());
  CHECK(genie::load_quantized(older, path).quantized->policy().skip_input ==
        genie::SkipInput::quantized);

  engine::TensorFile bad = deep_copy(good);
  bad.set_meta("skip_input", "both");
  CHECK(contains(quantized_error(bad),
                 "q.gw: metadata 'skip_input' must be 'quantized' or 'float', got 'both'"));
}
