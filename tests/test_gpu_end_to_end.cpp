// GENIE's two halves on the CPU and on CUDA from the same seed, on a tiny ResNet: one GENIE-D
// iteration, one reconstruction iteration, and a whole quantization whose file, evaluated on the
// CPU, scores as the CPU's own. Without a usable GPU every case says why once and passes.
// Tolerances: a first iteration only sums in another order on the GPU (see test_gpu_ops.cpp),
// so it is held to 1e-4 of the result's scale; after one Adam step, whose first update is about
// lr * sign(gradient), a gradient within rounding of 0 can move its weight the other way, so the
// second iteration is held to 1e-3.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "engine/autograd.h"
#include "engine/dataset/dataset.h"
#include "genie/distill.h"
#include "genie/quantize.h"
#include "genie/quantized_file.h"
#include "genie/reconstruct.h"
#include "models/evaluate.h"
#include "models/generator.h"
#include "tests/gpu_parity.h"
#include "tests/tiny_models.h"

using engine::Device;
using engine::Tensor;

namespace {

models::ResNet tiny_model_on(Device device) {
  models::ResNet m(testing::tiny_resnet20(), 3);
  testing::randomize_batch_norms(m, 4);
  m.to(device);
  return m;
}

// Images drawn per index, so that every batch of an evaluation differs.
class SeededImages : public engine::Dataset {
 public:
  explicit SeededImages(int n) : n_(n) {}
  int64_t size() const override { return n_; }
  int num_classes() const override { return 10; }
  engine::Batch load(const std::vector<int64_t>& indices) const override {
    engine::Batch b;
    std::vector<float> pixels;
    for (int64_t i : indices) {
      engine::Rng rng(1000 + static_cast<uint64_t>(i));
      for (int k = 0; k < 64; ++k) pixels.push_back(rng.uniform());
      b.labels.push_back(static_cast<int>(i % 10));
    }
    b.images = Tensor({static_cast<int>(indices.size()), 1, 8, 8}, pixels);
    return b;
  }
  std::string describe() const override { return "seeded random images"; }

 private:
  int n_;
};

// With one iteration the images kept are the generator's first output, before any step.
genie::DistillResult distill_on(Device device, int iters) {
  models::ResNet m = tiny_model_on(device);
  genie::DistillConfig c;
  c.num_images = c.batch = 8;
  c.iters = iters;
  c.progress = false;
  return genie::distill(m, c);
}

// `iters` reconstruction iterations of the tiny model's first block (unit 1), from the same
// seeds on `device`: the last iteration's loss and the first conv's weight steps after them.
std::pair<float, std::vector<float>> reconstruct_on(Device device, int iters) {
  models::ResNet m = tiny_model_on(device);
  m.set_trainable(false);
  engine::Rng data_rng(5);
  Tensor x = engine::randn({16, 1, 8, 8}, data_rng, 0.0f, 1.0f, device);
  Tensor stem = m.forward_unit(0, x), y = m.forward_unit(1, stem);
  genie::QuantizedResNet q(m, genie::QuantPolicy{});
  engine::Rng rng(6);
  q.initialize_activations(stem, rng, 1);
  genie::ReconstructConfig c;
  c.iters = iters;
  c.batch = 8;
  c.progress = false;
  q.set_unit_mode(1, {true, c.p_quantized_input});
  genie::ReconstructLoss loss = genie::reconstruct_unit(q, 1, stem, stem, y, c, rng);
  return std::make_pair(loss.reconstruction, q.unit_layers(1)[0]->weight->step.values());
}

}  // namespace

TEST_CASE("gpu end-to-end: a model and a generator move to CUDA whole, and back unchanged") {
  if (testing::skip_without_gpu()) return;
  models::ResNet m = tiny_model_on(Device::CPU);
  std::vector<std::vector<float>> before;
  for (auto& [name, t] : m.named_tensors()) before.push_back(t->values());
  m.to(Device::CUDA);
  CHECK(m.device() == Device::CUDA);
  for (auto& [name, t] : m.named_tensors()) {
    INFO(name);
    CHECK(t->device() == Device::CUDA);
    CHECK(t->requires_grad() == (name.find("running_") == std::string::npos));
  }
  m.to(Device::CPU);
  size_t i = 0;
  for (auto& [name, t] : m.named_tensors()) CHECK(t->values() == before[i++]);
  engine::Rng rng(9);
  models::Generator g(1, 8, rng);
  g.to(Device::CUDA);
  CHECK(g.device() == Device::CUDA);
  for (const Tensor& p : g.parameters()) CHECK((p.device() == Device::CUDA && p.requires_grad()));
}

TEST_CASE("gpu end-to-end: a GENIE-D iteration matches the CPU") {
  if (testing::skip_without_gpu()) return;
  genie::DistillResult cpu = distill_on(Device::CPU, 1), gpu = distill_on(Device::CUDA, 1);
  CHECK(gpu.bns_loss_first == doctest::Approx(cpu.bns_loss_first).epsilon(1e-4));
  CHECK(testing::relative_difference(cpu.images.values(), gpu.images.values()) <= 1e-4);
}

TEST_CASE("gpu end-to-end: a second GENIE-D iteration, after a step, matches the CPU") {
  if (testing::skip_without_gpu()) return;
  genie::DistillResult cpu = distill_on(Device::CPU, 2), gpu = distill_on(Device::CUDA, 2);
  CHECK(gpu.bns_loss_first == doctest::Approx(cpu.bns_loss_first).epsilon(1e-4));
  CHECK(gpu.bns_loss_last == doctest::Approx(cpu.bns_loss_last).epsilon(1e-3));
  CHECK(testing::relative_difference(cpu.images.values(), gpu.images.values()) <= 1e-3);
}

TEST_CASE("gpu end-to-end: a reconstruction iteration matches the CPU") {
  if (testing::skip_without_gpu()) return;
  float cpu_loss = reconstruct_on(Device::CPU, 1).first;
  float gpu_loss = reconstruct_on(Device::CUDA, 1).first;
  CHECK(gpu_loss == doctest::Approx(cpu_loss).epsilon(1e-4));
}

TEST_CASE("gpu end-to-end: a second reconstruction iteration, after a step, matches the CPU") {
  if (testing::skip_without_gpu()) return;
  auto [cpu_loss, cpu_step] = reconstruct_on(Device::CPU, 2);
  auto [gpu_loss, gpu_step] = reconstruct_on(Device::CUDA, 2);
  CHECK(gpu_loss == doctest::Approx(cpu_loss).epsilon(1e-3));
  CHECK(testing::relative_difference(cpu_step, gpu_step) <= 1e-3);
}

TEST_CASE("gpu end-to-end: a model quantized on the GPU scores on the CPU as the CPU's own") {
  if (testing::skip_without_gpu()) return;
  SeededImages data(2000);
  // Quantizes on `device`; the learned codes of every layer, and the top-1 scored on the CPU.
  auto quantize_then_score = [&](Device device) {
    models::ResNet m = tiny_model_on(device);
    engine::Rng rng(8);
    Tensor calibration = engine::randn({32, 1, 8, 8}, rng);
    genie::QuantConfig c;
    c.iters = 20;
    c.progress = false;
    auto q = genie::quantize(m, calibration, c);
    std::string path = "/tmp/genie_gpu_e2e_" + std::to_string(getpid()) + "_" +
                       engine::device_name(device) + ".gw";
    genie::save_quantized(path, *q, "genie");
    engine::TensorFile file = engine::read_tensor_file(path);
    std::remove(path.c_str());
    genie::LoadedQuantizedModel loaded = genie::load_quantized(file, path);
    std::vector<float> codes;
    for (auto& [name, layer] : loaded.quantized->layers()) {
      std::vector<float> c = layer.weight->hard_codes().values();
      codes.insert(codes.end(), c.begin(), c.end());
    }
    engine::Rng eval_rng(0);
    double top1 =
        models::evaluate(*loaded.model, data, 250, 0, loaded.quantized->hooks(eval_rng)).top1;
    return std::make_pair(codes, top1);
  };
  auto [cpu_codes, cpu] = quantize_then_score(Device::CPU);
  auto [gpu_codes, gpu] = quantize_then_score(Device::CUDA);
  REQUIRE(cpu_codes.size() == gpu_codes.size());
  size_t differ = 0;
  for (size_t i = 0; i < cpu_codes.size(); ++i) differ += cpu_codes[i] != gpu_codes[i];
  // Adam turns the sign of a near-zero gradient into a full step, so the two backends' sums,
  // equal to a few ulps, can leave a weight whose h(V) sits near 1/2 on either side of it. On
  // an H200: 3 codes of 16,900 differed. The tiny random model scores at chance (about 10%),
  // where each such code moves borderline images: top-1 10.15 on the CPU, 9.95 on the GPU (4
  // images of 2,000). The codes are the strict check; the score only must not drift further.
  MESSAGE("codes that differ: " << differ << " of " << cpu_codes.size() << "; top-1 cpu " << cpu
                                << ", gpu " << gpu);
  CHECK(differ <= cpu_codes.size() / 200);
  CHECK(std::fabs(cpu - gpu) <= 0.5);
}
