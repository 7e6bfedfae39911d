// The integer engine against the fake-quantized simulation it deploys.
//
// Tolerances: the integer engine's sums are exact (int32) and rounded once when scaled; the
// simulation sums n = C*R*S float products, each rounded, whose error is at most about
// n * 2^-24 * sum|products| (Higham's bound for recursive summation; blocked GEMM sums do
// better). The conv test allows twice that bound per element.
#include <doctest/doctest.h>

#include <cmath>
#include <utility>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "genie/integer_inference.h"
#include "tests/tiny_models.h"

namespace {

using engine::Tensor;

// |a - b| <= 2 * n * 2^-24 * bound + 1e-30 elementwise (see the file comment).
void check_within_summation_error(const Tensor& a, const Tensor& b, const Tensor& bound, int n) {
  REQUIRE(a.shape() == b.shape());
  std::vector<float> av = a.values(), bv = b.values(), limit = bound.values();
  int64_t outside = 0;
  for (size_t i = 0; i < av.size(); ++i)
    outside += std::fabs(av[i] - bv[i]) > 2.0 * n * std::ldexp(1.0, -24) * limit[i] + 1e-30;
  CHECK(outside == 0);
}

// One conv: weights `bits` wide (codes shifted by `zero_point_shift` from the clip search's
// zero points, to reach the code - 128 path), input quantizer `abits`, signed or not.
void compare_one_conv(int bits, int abits, bool is_signed, int zero_point_shift, int stride) {
  engine::Rng rng(7);
  engine::NoGrad no_grad;
  const int C = 5, K = 6, padding = 1;
  genie::WeightQuantizer fitted(engine::randn({K, C, 3, 3}, rng), bits);
  engine::CodeTensor codes = fitted.codes();
  std::vector<float> zero_point = fitted.zero_point.values();
  for (float& zp : zero_point) zp -= static_cast<float>(zero_point_shift);
  genie::WeightQuantizer w = genie::WeightQuantizer::from_codes(
      codes, fitted.step, Tensor(fitted.zero_point.shape(), zero_point));
  genie::ActivationQuantizer aq(abits, is_signed, 0.11f);
  Tensor x = engine::randn({3, C, 9, 9}, rng, is_signed ? 0.0f : 0.6f, 0.7f);
  Tensor xq = aq.forward(x);
  Tensor simulated = engine::conv2d(xq, w.hard_weights(), Tensor(), stride, padding);
  genie::IntegerConv conv(w, stride, padding);
  Tensor integer = genie::to_nchw(conv.forward(genie::quantize_activations(genie::to_nhwc(x), aq)));
  Tensor bound =
      engine::conv2d(engine::abs(xq), engine::abs(w.hard_weights()), Tensor(), stride, padding);
  check_within_summation_error(integer, simulated, bound, C * 9);
}

}  // namespace

TEST_CASE("integer conv equals the simulated conv on random data") {
  SUBCASE("W4, unsigned A4") { compare_one_conv(4, 4, false, 0, 1); }
  SUBCASE("W2, signed A4, stride 2") { compare_one_conv(2, 4, true, 0, 2); }
  SUBCASE("W8 with off-centre zero points (code - 128 and window sums), unsigned A8") {
    compare_one_conv(8, 8, false, 90, 1);
  }
  SUBCASE("W8 with off-centre zero points, signed A8, stride 2") {
    compare_one_conv(8, 8, true, -100, 2);
  }
}

TEST_CASE("activation codes reproduce the quantizer's values, signed and unsigned") {
  engine::Rng rng(3);
  engine::NoGrad no_grad;
  Tensor x = engine::randn({2, 3, 4, 5}, rng, 0.0f, 2.0f);
  for (bool is_signed : {false, true}) {
    genie::ActivationQuantizer aq(3, is_signed, 0.25f);
    Tensor codes_as_values = genie::to_nchw(
        genie::dequantize_activations(genie::quantize_activations(genie::to_nhwc(x), aq)));
    CHECK(codes_as_values.values() == aq.forward(x).values());
  }
}

// max |a - b| over max |b|: the logits' largest difference relative to their spread.
float relative_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<float> av = a.values(), bv = b.values();
  float spread = 0.0f, diff = 0.0f;
  for (size_t i = 0; i < av.size(); ++i) {
    spread = std::max(spread, std::fabs(bv[i]));
    diff = std::max(diff, std::fabs(av[i] - bv[i]));
  }
  return diff / spread;
}

// Both engines' logits for a tiny model with random BatchNorms, on 16 random images.
std::pair<Tensor, Tensor> integer_and_simulated(const models::ModelConfig& config,
                                                genie::SkipInput skip) {
  models::ResNet model(config, 5);
  testing::randomize_batch_norms(model, 6);
  engine::Rng rng(8);
  genie::QuantPolicy policy;
  policy.skip_input = skip;
  genie::QuantizedResNet q(model, policy);
  Tensor x = engine::randn({16, config.in_channels, config.input_size, config.input_size}, rng);
  q.initialize_activations(x, rng);
  engine::NoGrad no_grad;
  Tensor simulated = model.forward(x, q.hooks(rng));
  genie::IntegerResNet net(q);
  return {net.forward(x), simulated};
}

// A whole tiny ResNet, both shortcut options: the logits of both engines agree to float
// rounding. A requantisation can round one activation the other way where the two sums
// straddle a rounding boundary, moving a logit by about one step's worth, so the check is on
// the largest difference relative to the logits' spread, and on the predicted classes.
TEST_CASE("integer ResNet matches the simulation's logits, with either skip input") {
  for (auto [shortcut, skip] : {std::pair{'A', genie::SkipInput::quantized},
                                {'A', genie::SkipInput::full_precision},
                                {'B', genie::SkipInput::quantized},
                                {'B', genie::SkipInput::full_precision}}) {
    CAPTURE(shortcut);
    CAPTURE(genie::skip_input_name(skip));
    auto [integer, simulated] = integer_and_simulated(testing::tiny_resnet20(shortcut), skip);
    CHECK(relative_difference(integer, simulated) <= 1e-4f);
  }
}

// The ImageNet stem (7x7 stride-2 conv, max pool) and bottleneck blocks of three convs.
TEST_CASE("integer ResNet matches the simulation's logits on the ImageNet layouts") {
  for (const char* arch : {"resnet18", "resnet50"}) {
    CAPTURE(arch);
    models::ModelConfig config = testing::tiny_resnet20();
    config.arch = arch;
    config.input_size = 32;
    auto [integer, simulated] = integer_and_simulated(config, genie::SkipInput::quantized);
    CHECK(relative_difference(integer, simulated) <= 1e-4f);
  }
}
