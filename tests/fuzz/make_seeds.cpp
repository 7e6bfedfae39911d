// Writes the fuzzers' seed corpora and the hand-made regression inputs (tests/fuzz/README.md):
// the tiny test ResNet at width 2, as a model and quantized at 4 bits, each as version 2 and,
// with its checksums stripped, as version 1. Run by `make fuzz-seeds` from the repo root.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/rng.h"
#include "genie/quantized_file.h"
#include "models/model_file.h"
#include "tests/tiny_models.h"

namespace {

using Bytes = std::vector<uint8_t>;

Bytes read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

uint32_t u32_at(const Bytes& b, size_t at) {
  return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | static_cast<uint32_t>(b[at + 3]) << 24;
}

// The same file as version 1: version field 1, the header and tensor checksums left out.
Bytes strip_checksums(const Bytes& v2) {
  Bytes out(v2.begin(), v2.begin() + 12);
  out[4] = 1;
  size_t at = 12;
  for (uint32_t i = 0; i < 2 * u32_at(v2, 8); ++i) at += 4 + u32_at(v2, at);
  uint32_t tensors = u32_at(v2, at);
  at += 4;
  out.insert(out.end(), v2.begin() + 12, v2.begin() + at);
  at += 4;
  for (uint32_t t = 0; t < tensors; ++t) {
    size_t start = at;
    at += 4 + u32_at(v2, at);
    int bits = v2[at + 1], ndim = v2[at + 2];
    at += 3;
    uint64_t count = 1;
    for (int d = 0; d < ndim; ++d, at += 4) count *= u32_at(v2, at);
    at += bits == 32 ? 4 * count : (count * bits + 7) / 8;
    out.insert(out.end(), v2.begin() + start, v2.begin() + at);
    at += 4;
  }
  return out;
}

void write_both(const std::string& v2_path, const std::string& v1_path) {
  write_bytes(v1_path, strip_checksums(read_bytes(v2_path)));
}

}  // namespace

int main() {
  models::ModelConfig config = testing::tiny_resnet20();
  config.width = 2;
  models::ResNet model(config);
  testing::randomize_batch_norms(model, 1);
  const std::string seeds = "tests/fuzz/seeds/";
  models::save_model(seeds + "tensor_file/model_v2.gw", model);
  write_both(seeds + "tensor_file/model_v2.gw", seeds + "tensor_file/model_v1.gw");

  genie::QuantizedResNet q(model, genie::QuantPolicy{});
  engine::Rng rng(1);
  {
    engine::NoGrad no_grad;  // the activation quantizers initialise on their first input
    model.forward(engine::randn({2, 1, 8, 8}, rng), q.hooks(rng));
  }
  genie::save_quantized(seeds + "quantized_file/quantized_v2.gw", q, "seed");
  write_both(seeds + "quantized_file/quantized_v2.gw", seeds + "quantized_file/quantized_v1.gw");
  write_both(seeds + "quantized_file/quantized_v2.gw", seeds + "tensor_file/quantized_v1.gw");

  // Once a SIGFPE in `genie eval`: a code tensor with a zero first dimension.
  engine::TensorFile zero = engine::read_tensor_file(seeds + "quantized_file/quantized_v2.gw");
  for (auto& [name, codes] : zero.codes)
    if (name == "layer1.0.conv1.weight") codes = engine::CodeTensor{{0, 2, 3, 3}, 4, {}};
  engine::write_tensor_file("tests/fuzz/regressions/zero_dim_codes.gw", zero);
  std::printf("seeds written under %s\n", seeds.c_str());
}
