// Writes the fuzzers' seed corpora and the hand-made regression inputs (tests/fuzz/README.md):
// the tiny test ResNet at width 2, as a model and quantized at 4 bits, each as version 2 and,
// with its checksums stripped, as version 1. Run by `make fuzz-seeds` from the repo root.
#include <cstdio>
#include <string>

#include "engine/autograd.h"
#include "engine/rng.h"
#include "genie/quantized_file.h"
#include "models/model_file.h"
#include "tests/file_bytes.h"
#include "tests/tiny_models.h"

namespace {

using testing::Bytes;

// The same file as version 1: version field 1, the header and tensor checksums left out.
Bytes strip_checksums(const Bytes& v2) {
  testing::FileLayout layout = testing::layout_of(v2);
  Bytes out(v2.begin(), v2.begin() + layout.header_end);
  out[4] = 1;
  for (const testing::TensorSpan& t : layout.tensors)
    out.insert(out.end(), v2.begin() + t.start, v2.begin() + t.end);
  return out;
}

void write_both(const std::string& v2_path, const std::string& v1_path) {
  testing::write_bytes(v1_path, strip_checksums(testing::read_bytes(v2_path)));
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
  q.initialize_activations(engine::randn({2, 1, 8, 8}, rng), rng);
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
