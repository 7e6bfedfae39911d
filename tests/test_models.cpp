// Models: ResNet topology (parameter counts, BN and strided-conv lists, units), weight files
// (round trip, every kind of bad file), the GENIE-D generator, and training determinism.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "engine/autograd.h"
#include "engine/optim.h"
#include "models/generator.h"
#include "models/model_file.h"
#include "tests/tiny_models.h"

using engine::Tensor;
using models::ModelConfig;
using models::ResNet;

namespace {

ModelConfig config(const std::string& arch, char shortcut, int channels, int size, int classes) {
  ModelConfig c;
  c.arch = arch;
  c.shortcut = shortcut;
  c.in_channels = channels;
  c.input_size = size;
  c.num_classes = classes;
  c.mean.assign(channels, 0.5f);
  c.std.assign(channels, 0.25f);
  return c;
}

int64_t count_parameters(ResNet& m) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}

int strided_convs(ResNet& m) {
  int n = 0;
  for (models::Conv2d* c : m.convs()) n += c->stride != 1;
  return n;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("genie_test_models_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

TEST_CASE("ResNet parameter counts match the published architectures") {
  // The published counts: CIFAR ResNet-20 0.27M (He et al. 2016, Table 6), torchvision
  // ResNet-18 11,689,512 and ResNet-50 25,557,032.
  ResNet r20(config("resnet20", 'A', 3, 32, 10));
  CHECK(count_parameters(r20) == 269722);
  ResNet r56(config("resnet56", 'A', 3, 32, 10));
  CHECK(count_parameters(r56) == 853018);
  ResNet r18(config("resnet18", 'B', 3, 224, 1000));
  CHECK(count_parameters(r18) == 11689512);
  ResNet r50(config("resnet50", 'B', 3, 224, 1000));
  CHECK(count_parameters(r50) == 25557032);
}

TEST_CASE("ResNets list their BatchNorms, strided convs and reconstruction units") {
  ResNet a(config("resnet20", 'A', 1, 28, 10));
  CHECK(a.batch_norms().size() == 19);  // stem + 2 per block
  CHECK(strided_convs(a) == 2);         // the first conv of stages 2 and 3
  CHECK(a.num_units() == 11);           // stem conv, 9 blocks, the classifier
  CHECK(a.unit_name(0) == "conv1");
  CHECK(a.unit_name(1) == "layer1.0");
  CHECK(a.unit_name(10) == "linear");
  ResNet b(config("resnet20", 'B', 1, 28, 10));
  CHECK(b.batch_norms().size() == 21);  // + the two projection shortcuts
  CHECK(strided_convs(b) == 4);
  ResNet r18(config("resnet18", 'B', 3, 64, 10));
  CHECK(strided_convs(r18) == 7);  // docs/METHOD.md: stem, three conv1s, three downsample convs
  CHECK(r18.named_tensors().front().first == "conv1.weight");
  CHECK(r18.named_tensors().back().first == "fc.bias");
}

TEST_CASE("forward equals running the reconstruction units one after another") {
  for (const char* arch : {"resnet20", "resnet18", "resnet50"}) {
    INFO(arch);
    bool cifar = models::is_cifar_arch(arch);
    ModelConfig c = config(arch, 'A', 3, cifar ? 12 : 40, 7);
    c.width = cifar ? 4 : 8;
    ResNet m(c, 3);
    testing::randomize_batch_norms(m, 4);
    engine::Rng rng(5);
    Tensor x = engine::randn({2, 3, c.input_size, c.input_size}, rng);
    engine::NoGrad no_grad;
    Tensor whole = m.forward(x);
    Tensor h = x;
    for (int u = 0; u < m.num_units(); ++u) h = m.forward_unit(u, h);
    REQUIRE(whole.shape() == engine::Shape{2, 7});
    CHECK(h.values() == whole.values());
  }
}

TEST_CASE("a saved model loads back with identical tensors and logits") {
  ModelConfig c = config("resnet20", 'B', 1, 16, 5);
  c.width = 8;
  ResNet m(c, 11);
  testing::randomize_batch_norms(m, 12);
  std::string path = temp_path("roundtrip.gw");
  models::save_model(path, m);
  ResNet loaded = models::load_model(path);
  std::filesystem::remove(path);
  CHECK(loaded.config().width == 8);
  CHECK(loaded.config().shortcut == 'B');
  CHECK(loaded.config().mean == c.mean);
  engine::Rng rng(13);
  Tensor x = engine::randn({3, 1, 16, 16}, rng);
  engine::NoGrad no_grad;
  CHECK(loaded.forward(x).values() == m.forward(x).values());
}

TEST_CASE("bad model files are refused with the file and the offending entry named") {
  ModelConfig c = config("resnet20", 'A', 1, 16, 10);
  c.width = 4;
  ResNet m(c);
  auto refuse = [](engine::TensorFile f, const std::string& needle) {
    INFO("expected an error mentioning " << needle);
    try {
      models::model_from_file(f, "bad.gw");
      FAIL("loaded a bad model");
    } catch (const engine::FileError& e) {
      std::string what = e.what();
      CHECK(what.find("bad.gw") != std::string::npos);
      CHECK(what.find(needle) != std::string::npos);
    }
  };
  engine::TensorFile good = models::model_to_file(m);
  CHECK_NOTHROW(models::model_from_file(good, "good.gw"));

  engine::TensorFile missing = good;
  missing.tensors.erase(missing.tensors.begin() + 3);
  refuse(missing, good.tensors[3].first);

  engine::TensorFile misshaped = good;
  misshaped.tensors[0].second = Tensor({4, 1, 5, 5});
  refuse(misshaped, "conv1.weight");

  engine::TensorFile extra = good;
  extra.tensors.push_back({"layer9.0.conv1.weight", Tensor({1})});
  refuse(extra, "layer9.0.conv1.weight");

  engine::TensorFile no_arch = good;
  no_arch.metadata.erase(no_arch.metadata.begin());
  refuse(no_arch, "arch");

  engine::TensorFile bad_arch = good;
  bad_arch.set_meta("arch", "resnet21");
  refuse(bad_arch, "resnet21");

  engine::TensorFile bad_number = good;
  bad_number.set_meta("num_classes", "ten");
  refuse(bad_number, "num_classes");

  engine::TensorFile bad_std = good;
  bad_std.set_meta("std", "0.3,0.3");
  refuse(bad_std, "mean and std");
}

// Moving to the device a model is on already changes nothing: the CPU path stays bit-identical
// and an optimiser built before the move still holds the model's own tensors.
TEST_CASE("a model and a generator moved to the CPU they are on keep every handle") {
  ResNet m(testing::tiny_resnet20(), 1);
  std::vector<engine::Node*> nodes;
  for (auto& [name, t] : m.named_tensors()) nodes.push_back(t->node());
  m.to(engine::Device::CPU);
  CHECK(m.device() == engine::Device::CPU);
  size_t i = 0;
  for (auto& [name, t] : m.named_tensors()) CHECK(t->node() == nodes[i++]);
  engine::Rng rng(22);
  models::Generator g(1, 8, rng);
  std::vector<Tensor> before = g.parameters();
  g.to(engine::Device::CPU);
  CHECK(g.device() == engine::Device::CPU);
  std::vector<Tensor> after = g.parameters();
  for (size_t k = 0; k < before.size(); ++k) {
    CHECK(after[k].node() == before[k].node());
    CHECK(after[k].requires_grad());
  }
}

TEST_CASE("the generator makes normalised images and passes gradients to z and itself") {
  engine::Rng rng(21);
  models::Generator g(3, 12, rng);
  Tensor z = engine::randn({4, models::Generator::kLatent}, rng).requires_grad_();
  Tensor images = g.forward(z);
  REQUIRE(images.shape() == engine::Shape{4, 3, 12, 12});
  // The last BatchNorm is non-affine in training mode: every channel has mean 0, variance 1.
  Tensor channel_mean = engine::mean(images, {0, 2, 3});
  // 1e-5: float rounding of normalised values summed over 4*12*12 positions.
  for (float v : channel_mean.values()) CHECK(std::abs(v) < 1e-5f);
  Tensor loss = engine::sum_all(engine::square(engine::mul_scalar(images, 0.5f)));
  loss.backward();
  REQUIRE(z.has_grad());
  double z_norm = 0;
  for (float v : z.grad_values()) z_norm += std::abs(v);
  CHECK(z_norm > 0);
  for (Tensor& p : g.parameters()) CHECK(p.has_grad());
  CHECK_THROWS_AS(models::Generator(3, 10, rng), std::invalid_argument);
  CHECK_THROWS_AS(g.forward(Tensor({4, 100})), std::invalid_argument);
}

TEST_CASE("training steps are bit-for-bit reproducible for a seed and thread count") {
  auto train_steps = []() {
    ModelConfig c = config("resnet20", 'A', 1, 12, 10);
    c.width = 4;
    ResNet m(c, 7);
    engine::Sgd opt(m.parameters(), 0.1f, {0.9, 5e-4});
    engine::Rng rng(8);
    models::ForwardHooks hooks;
    hooks.train_bn = true;
    for (int step = 0; step < 3; ++step) {
      Tensor x = engine::randn({6, 1, 12, 12}, rng);
      std::vector<int> labels{0, 1, 2, 3, 4, 5};
      Tensor loss = engine::softmax_cross_entropy(m.forward(x, hooks), labels);
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    std::vector<float> all;
    for (auto& [name, t] : m.named_tensors()) {
      const std::vector<float> values = t->values();
      all.insert(all.end(), values.begin(), values.end());
    }
    return all;
  };
  CHECK(train_steps() == train_steps());
}

TEST_CASE("model configs that cannot describe a network are refused") {
  CHECK_THROWS_AS(ResNet(config("resnet21", 'A', 1, 28, 10)), std::invalid_argument);
  CHECK_THROWS_AS(ResNet(config("resnet20", 'C', 1, 28, 10)), std::invalid_argument);
  CHECK_THROWS_AS(ResNet(config("resnet20", 'A', 1, 28, 0)), std::invalid_argument);
  ModelConfig c = config("resnet20", 'A', 3, 28, 10);
  c.mean = {0.5f};
  CHECK_THROWS_AS((ResNet(c)), std::invalid_argument);
  ResNet m(config("resnet20", 'A', 1, 28, 10));
  CHECK_THROWS_AS(m.forward(Tensor({1, 3, 28, 28})), std::invalid_argument);
}

TEST_CASE("the skip-input hook transforms what a parameter-free shortcut reads, and only that") {
  for (char shortcut : {'A', 'B'}) {
    ModelConfig c = config("resnet20", shortcut, 1, 8, 10);
    c.width = 4;
    ResNet m(c, 5);
    int calls = 0;
    models::ForwardHooks zero_skip, same_skip;
    zero_skip.skip_input = [&](const models::Block&, const Tensor& x) {
      ++calls;
      return Tensor(x.shape(), 0.0f);
    };
    same_skip.skip_input = [](const models::Block&, const Tensor& x) { return x; };
    engine::Rng rng(6);
    engine::NoGrad no_grad;
    // Unit 4 is layer2.0, a block that changes shape: option A pads, option B projects.
    Tensor x = engine::randn({2, 4, 8, 8}, rng);
    std::vector<float> plain = m.forward_unit(4, x).values();
    CHECK(m.forward_unit(4, x, same_skip).values() == plain);
    bool changed = m.forward_unit(4, x, zero_skip).values() != plain;
    CHECK(changed == (shortcut == 'A'));  // a projection reads its input through its conv
    CHECK(calls == (shortcut == 'A' ? 1 : 0));
  }
}
