// GENIE-D: the BN-statistics and input losses against hand computation, the gradient of the
// whole objective by finite differences, swing convolution, a short distillation on the
// default model, determinism and resume.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <set>

#include "engine/autograd.h"
#include "engine/tensor_file.h"
#include "genie/bn_statistics_loss.h"
#include "genie/distill.h"
#include "genie/images_file.h"
#include "genie/merge_shards.h"
#include "genie/swing_conv.h"
#include "models/generator.h"
#include "models/model_file.h"
#include "tests/edit_values.h"
#include "tests/file_bytes.h"
#include "tests/tiny_models.h"

using engine::Tensor;

namespace {

models::ResNet tiny_resnet(uint64_t seed) {
  models::ResNet m(testing::tiny_resnet20(), seed);
  testing::randomize_batch_norms(m, seed + 1);
  return m;
}

// sum_l L_l + input term of `images` through `model`, without swing.
Tensor objective(models::ResNet& model, const Tensor& images) {
  std::vector<genie::BnObservation> seen;
  models::ForwardHooks hooks;
  hooks.bn_input = [&](const models::BatchNorm2d& bn, const Tensor& x) {
    seen.push_back({&bn, x});
  };
  model.forward(images, hooks);
  return engine::add(genie::bn_statistics_loss(seen), genie::input_statistics_loss(images));
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("genie_test_distill_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

TEST_CASE("the BN-statistics loss equals the hand computation") {
  models::BatchNorm2d bn = models::make_batch_norm("bn", 2);
  bn.state.running_mean.set_values({0.5f, -1.0f});
  bn.state.running_var.set_values({4.0f, 0.25f});
  // x (N=2, C=2, H=1, W=2): channel 0 sees 1, 2, 3, 4; channel 1 sees 0, 0, 2, 2.
  Tensor x({2, 2, 1, 2}, {1, 2, 0, 0, 3, 4, 2, 2});
  // Means 2.5 and 1; unbiased stds sqrt(5/3) and sqrt(4/3).
  double mean_term = ((2.5 - 0.5) * (2.5 - 0.5) + (1.0 + 1.0) * (1.0 + 1.0)) / 2;
  double s0 = std::sqrt(5.0 / 3) - std::sqrt(4.0 + 1e-6),
         s1 = std::sqrt(4.0 / 3) - std::sqrt(0.25 + 1e-6);
  double expected = mean_term + (s0 * s0 + s1 * s1) / 2;
  Tensor loss = genie::bn_statistics_loss({{&bn, x}, {&bn, x}});
  // Two identical layers: twice the loss; 1e-6 relative is float32 rounding.
  CHECK(loss.item() == doctest::Approx(2 * expected).epsilon(1e-6));
}

TEST_CASE("the input term pulls each image and channel to mean 0 and std 1") {
  // Two images of one channel, 2x2: (0, 2, 0, 2) has mean 1, std sqrt(4/3); (1, 1, 1, 1) has
  // mean 1, std 0. The term divides by the batch size, 2.
  Tensor images({2, 1, 2, 2}, {0, 2, 0, 2, 1, 1, 1, 1});
  double sd = std::sqrt(4.0 / 3);
  double expected = (1.0 + 1.0) / 2 + ((sd - 1) * (sd - 1) + 1.0) / 2;
  CHECK(genie::input_statistics_loss(images).item() == doctest::Approx(expected).epsilon(1e-6));
  Tensor normal({2, 1, 2, 2}, {-1, 1, -1, 1, 1, -1, 1, -1});  // mean 0; std sqrt(4/3)
  double off = (std::sqrt(4.0 / 3) - 1) * (std::sqrt(4.0 / 3) - 1);
  CHECK(genie::input_statistics_loss(normal).item() == doctest::Approx(off).epsilon(1e-6));
}

// A tiny smooth network for GENIE-D's objective: conv -> BN (eval) -> tanh -> strided conv,
// with both convs' outputs observed as BN inputs, as a ResNet's are. Without ReLU kinks the
// objective is smooth enough for finite differences in the generator's weights; through a
// ReLU network every step moves pre-activations across kinks and the quotients scatter.
struct SmoothNet {
  models::Conv2d conv1, conv2;
  models::BatchNorm2d bn1, bn2;
};

SmoothNet smooth_net(engine::Rng& rng) {
  SmoothNet n{models::make_conv("conv1", 1, 6, 3, 1, 1, false, models::Init::TorchDefault, rng),
              models::make_conv("conv2", 6, 5, 3, 2, 1, false, models::Init::TorchDefault, rng),
              models::make_batch_norm("bn1", 6), models::make_batch_norm("bn2", 5)};
  for (models::BatchNorm2d* bn : {&n.bn1, &n.bn2}) {
    testing::edit_values(bn->state.running_mean, [&](float) { return rng.uniform(-0.3f, 0.3f); });
    testing::edit_values(bn->state.running_var, [&](float) { return rng.uniform(0.5f, 2.0f); });
  }
  return n;
}

Tensor smooth_objective(SmoothNet& n, const Tensor& images) {
  Tensor h1 = models::run(n.conv1, images);
  Tensor h2 = models::run(n.conv2, engine::tanh(models::run(n.bn1, h1, false)));
  Tensor bns = genie::bn_statistics_loss({{&n.bn1, h1}, {&n.bn2, h2}});
  return engine::add(bns, genie::input_statistics_loss(images));
}

// Directional derivatives of `loss` along random directions through each tensor:
// (L(x + eps v) - L(x - eps v)) / 2 eps against <grad, v>, within atol + rtol |quotient|.
void check_directions(const std::vector<std::pair<std::string, Tensor>>& groups,
                      const std::function<double()>& loss, float eps, double atol, double rtol,
                      engine::Rng& rng) {
  engine::NoGrad no_grad;
  for (auto [name, t] : groups) {
    REQUIRE(t.has_grad());
    for (int trial = 0; trial < 3; ++trial) {
      // A random direction of length 10 whatever the tensor's size, so that a step moves every
      // tensor by the same distance (the generator's Linear alone has 131072 weights).
      Tensor v = engine::randn(t.shape(), rng);
      double length = 0;
      for (float a : v.values()) length += static_cast<double>(a) * a;
      testing::edit_values(
          v, [&](float a) { return a * static_cast<float>(10.0 / std::sqrt(length)); });
      double analytic = 0;
      for (int64_t i = 0; i < t.numel(); ++i)
        analytic += static_cast<double>(t.grad_values()[i]) * v.data()[i];
      auto move = [&](float step) {
        for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] += step * v.data()[i];
      };
      move(eps);
      double up = loss();
      move(-2 * eps);
      double down = loss();
      move(eps);
      double numeric = (up - down) / (2 * eps);
      INFO(name << " direction " << trial << ": analytic " << analytic << " numeric " << numeric);
      CHECK(std::abs(analytic - numeric) <= atol + rtol * std::abs(numeric));
    }
  }
}

TEST_CASE("the gradient of the objective w.r.t. z and the generator matches finite differences") {
  engine::Rng rng(4);
  SmoothNet net = smooth_net(rng);
  models::Generator gen(1, 8, rng);
  Tensor z = engine::randn({4, models::Generator::kLatent}, rng).requires_grad_();
  smooth_objective(net, gen.forward(z)).backward();
  std::vector<std::pair<std::string, Tensor>> groups{{"z", z}};
  for (const Tensor& p : gen.parameters()) groups.push_back({"generator tensor", p});
  // A step of 1e-3 along a direction of length 10: small beside the curvature that the
  // generator's batch statistics add, large beside float32 rounding of an O(1) loss (about
  // 1e-4 in the quotient). 1% + 2e-3: the generator's leaky-ReLU kinks add up to about 1e-3
  // to the smallest derivatives (seen); large ones agree to about 0.1%.
  check_directions(
      groups, [&] { return smooth_objective(net, gen.forward(z)).item(); }, 1e-3f, 2e-3, 0.01, rng);
}

TEST_CASE("the gradient w.r.t. z through a ResNet matches finite differences") {
  models::ResNet model = tiny_resnet(3);
  model.set_trainable(false);
  engine::Rng rng(4);
  models::Generator gen(1, 8, rng);
  Tensor z = engine::randn({4, models::Generator::kLatent}, rng).requires_grad_();
  objective(model, gen.forward(z)).backward();
  // Behind the generator's BN the loss is smooth enough in z; the ReLU kinks that a step
  // crosses still scatter the quotient by a few percent.
  check_directions(
      {{"z", z}}, [&] { return objective(model, gen.forward(z)).item(); }, 1e-3f, 0.02, 0.06, rng);
}

TEST_CASE("swing convolution shifts strided convs only, by all nine offsets") {
  engine::Rng rng(7);
  models::Conv2d strided =
      models::make_conv("c", 2, 3, 3, 2, 1, false, models::Init::TorchDefault, rng);
  models::Conv2d plain =
      models::make_conv("p", 2, 3, 3, 1, 1, false, models::Init::TorchDefault, rng);
  Tensor x = engine::randn({2, 2, 7, 9}, rng);
  engine::NoGrad no_grad;
  CHECK(genie::swing_shift(x, 1, 1).values() == x.values());
  CHECK(genie::swing_conv(plain, x, rng).values() == models::run(plain, x).values());
  std::vector<std::vector<float>> candidates;
  for (int dy = 0; dy < 3; ++dy)
    for (int dx = 0; dx < 3; ++dx)
      candidates.push_back(models::run(strided, genie::swing_shift(x, dy, dx)).values());
  std::set<int> seen;
  for (int draw = 0; draw < 200; ++draw) {
    Tensor y = genie::swing_conv(strided, x, rng);
    CHECK(y.shape() == models::run(strided, x).shape());
    int match = -1;
    for (int k = 0; k < 9; ++k)
      if (y.values() == candidates[k]) match = k;
    REQUIRE(match >= 0);
    seen.insert(match);
  }
  CHECK(seen.size() == 9);
  CHECK_THROWS_AS(genie::swing_shift(x, 3, 0), std::invalid_argument);
}

TEST_CASE("a short GENIE-D run on the default model lowers the BN loss tenfold") {
  models::ResNet model = models::default_model();
  genie::DistillConfig c;
  c.num_images = 8;
  c.batch = 8;
  c.iters = 60;
  c.progress = false;
  genie::DistillResult r = genie::distill(model, c);
  INFO("bns_loss_first=" << r.bns_loss_first << " bns_loss_last=" << r.bns_loss_last);
  CHECK(r.images.shape() == engine::Shape{8, 1, 28, 28});
  CHECK(r.bns_loss_last * 10 <= r.bns_loss_first);
}

TEST_CASE("distillation is deterministic, and a resumed run ends with the same images") {
  models::ResNet model = tiny_resnet(9);
  genie::DistillConfig c;
  c.num_images = 6;
  c.batch = 3;
  c.iters = 5;
  c.progress = false;
  c.out = temp_path("full.gwt");
  genie::DistillResult full = genie::distill(model, c);
  genie::DistillResult again = genie::distill(model, c);
  CHECK(again.images.values() == full.images.values());

  // A run killed after its first batch leaves a file holding that batch only.
  engine::TensorFile f = engine::read_tensor_file(c.out);
  for (auto& [name, t] : f.tensors) {
    t = engine::slice_rows(t, 0, name == "images" ? 3 : 1);
  }
  engine::write_tensor_file(c.out, f);
  c.resume = true;
  genie::DistillResult resumed = genie::distill(model, c);
  CHECK(resumed.images.values() == full.images.values());
  CHECK(engine::read_tensor_file(c.out).tensor("images")->values() == full.images.values());

  c.seed = 1;  // different settings refuse to resume
  CHECK_THROWS_AS(genie::distill(model, c), engine::FileError);
  std::filesystem::remove(c.out);
}

TEST_CASE("the shards of a distillation merge to the single run's images file") {
  models::ResNet model = tiny_resnet(13);
  genie::DistillConfig c;
  c.num_images = 7;  // batches of 2, 2, 2 and 1: shard 0/3 holds 0 and 3, the others one each
  c.batch = 2;
  c.iters = 2;
  c.progress = false;
  c.out = temp_path("single.gwt");
  genie::distill(model, c);
  std::vector<std::string> parts;
  for (int shard : {2, 0, 1}) {
    genie::DistillConfig part = c;
    part.shard = shard;
    part.shards = 3;
    part.out = temp_path("part" + std::to_string(shard) + ".gwt");
    CHECK(genie::distill(model, part).images.size(0) == (shard == 0 ? 3 : 2));
    parts.push_back(part.out);
  }
  std::string merged = temp_path("merged.gwt");
  genie::write_images_file(merged, genie::merge_shards(parts));
  testing::Bytes single = testing::read_bytes(c.out);
  CHECK(!single.empty());
  CHECK(testing::read_bytes(merged) == single);

  parts.pop_back();  // without shard 1/3
  CHECK_THROWS_WITH_AS(genie::merge_shards(parts), doctest::Contains("shard 1/3 is missing"),
                       engine::FileError);
  for (const std::string& path :
       {c.out, merged, temp_path("part0.gwt"), temp_path("part1.gwt"), temp_path("part2.gwt")})
    std::filesystem::remove(path);
}

TEST_CASE("--shard parses i/n with 0 <= i < n only") {
  int shard = -1, shards = -1;
  CHECK(genie::parse_shard("2/3", shard, shards));
  CHECK((shard == 2 && shards == 3));
  for (const char* bad : {"3/3", "0/0", "1", "-1/2", "1/x", "1/2/3", "/2", " 1/2"})
    CHECK_FALSE(genie::parse_shard(bad, shard, shards));
}

TEST_CASE("every ablation method runs and the noise baseline makes Gaussian images") {
  models::ResNet model = tiny_resnet(11);
  for (const char* name : {"genie", "zeroq", "latent", "generator", "noise"}) {
    INFO(name);
    genie::DistillConfig c;
    c.method = genie::parse_distill_method(name);
    CHECK(genie::method_name(c.method) == name);
    c.num_images = 4;
    c.batch = 4;
    c.iters = 3;
    c.progress = false;
    genie::DistillResult r = genie::distill(model, c);
    CHECK(r.images.shape() == engine::Shape{4, 1, 8, 8});
    CHECK(std::isfinite(r.bns_loss_last));
  }
  CHECK_THROWS_AS(genie::parse_distill_method("dreaming"), std::invalid_argument);
}
