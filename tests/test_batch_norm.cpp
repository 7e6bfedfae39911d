// Batch normalization: hand-computed outputs and running statistics in training and eval mode,
// gradients through the batch statistics, non-affine use, and bad arguments.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/gradcheck.h"

using engine::BatchNormState;
using engine::Shape;
using engine::Tensor;
using testing::check_gradients;
using testing::random_input;

namespace {

BatchNormState state_for(int C, std::vector<float> mean, std::vector<float> var) {
  BatchNormState s;
  s.running_mean = Tensor({C}, std::move(mean));
  s.running_var = Tensor({C}, std::move(var));
  return s;
}

// Random running statistics, the variance kept well above 0 so 1/sqrt(var) is gentle.
BatchNormState random_state(int C, uint64_t seed) {
  engine::Rng rng(seed);
  BatchNormState s;
  s.running_mean = engine::rand_uniform({C}, rng, -0.5f, 0.5f);
  s.running_var = engine::rand_uniform({C}, rng, 0.5f, 2.0f);
  return s;
}

// Odd, non-square shapes, batch 1 and batch > 1, images and (N, C) features.
const std::vector<Shape> kShapes = {{1, 3, 5, 7}, {3, 2, 3, 5}, {5, 4}};

}  // namespace

TEST_CASE("batch_norm training mode normalises with the batch statistics") {
  // Channel 0 holds 1, 2, 3, 6: mean 3, biased variance 14/4. Channel 1 holds 0, 0, 4, 4: mean 2,
  // biased variance 4.
  Tensor x({2, 2, 1, 2}, {1, 2, 0, 0, 3, 6, 4, 4});
  Tensor gamma({2}, {2, 1}), beta({2}, {0.5f, -1});
  BatchNormState state = state_for(2, {0.5f, 0}, {2, 1});
  Tensor y = engine::batch_norm(x, gamma, beta, state, true);
  REQUIRE(y.shape() == Shape{2, 2, 1, 2});
  // (x - 3) / sqrt(3.5 + 1e-5) * 2 + 0.5 and (x - 2) / sqrt(4 + 1e-5) - 1.
  std::vector<float> expected = {-1.6380869f, -0.5690434f, -1.9999988f, -1.9999988f,
                                 0.5f,        3.7071303f,  -1.25e-6f,   -1.25e-6f};
  for (int i = 0; i < 8; ++i) CHECK(y.data()[i] == doctest::Approx(expected[i]).epsilon(1e-6));
  // mean: 0.9 * 0.5 + 0.1 * 3 and 0.9 * 0 + 0.1 * 2; the unbiased variances 14/3 and 16/3 blend
  // into var: 0.9 * 2 + 0.1 * 14/3 and 0.9 * 1 + 0.1 * 16/3.
  CHECK(state.running_mean.data()[0] == doctest::Approx(0.75f).epsilon(1e-6));
  CHECK(state.running_mean.data()[1] == doctest::Approx(0.2f).epsilon(1e-6));
  CHECK(state.running_var.data()[0] == doctest::Approx(2.2666667f).epsilon(1e-6));
  CHECK(state.running_var.data()[1] == doctest::Approx(1.4333333f).epsilon(1e-6));
}

TEST_CASE("batch_norm updates the running statistics with the given momentum, grad mode or not") {
  Tensor x({4, 1}, {1, 2, 3, 6});
  BatchNormState state = state_for(1, {1}, {1});
  state.momentum = 0.5f;
  {
    engine::NoGrad no_grad;
    engine::batch_norm(x, Tensor(), Tensor(), state, true);
  }
  CHECK(state.running_mean.item() == doctest::Approx(0.5f * 1 + 0.5f * 3));
  CHECK(state.running_var.item() == doctest::Approx(0.5f * 1 + 0.5f * 14.0f / 3));
  engine::batch_norm(x, Tensor(), Tensor(), state, true);
  CHECK(state.running_mean.item() == doctest::Approx(0.5f * 2 + 0.5f * 3));
  CHECK(state.running_var.item() == doctest::Approx(0.5f * (0.5f + 7.0f / 3) + 0.5f * 14.0f / 3));
}

TEST_CASE("batch_norm eval mode uses the running statistics and leaves them unchanged") {
  Tensor x({2, 2}, {3, -1.5f, -1, -3});
  BatchNormState state = state_for(2, {1, -2}, {4, 0.25f});
  Tensor y = engine::batch_norm(x, Tensor(), Tensor(), state, false);
  // (x - 1) / sqrt(4 + 1e-5) and (x + 2) / sqrt(0.25 + 1e-5).
  std::vector<float> expected = {0.9999988f, 0.9999800f, -0.9999988f, -1.9999600f};
  for (int i = 0; i < 4; ++i) CHECK(y.data()[i] == doctest::Approx(expected[i]).epsilon(1e-6));
  CHECK(state.running_mean.values() == std::vector<float>{1, -2});
  CHECK(state.running_var.values() == std::vector<float>{4, 0.25f});
}

TEST_CASE("batch_norm gradients of a plain sum, by hand") {
  Tensor x({2, 2, 1, 2}, {1, 2, 0, 0, 3, 6, 4, 4});
  x.requires_grad_();
  Tensor gamma({2}, {2, 1}), beta({2}, {0.5f, -1});
  gamma.requires_grad_();
  beta.requires_grad_();
  BatchNormState state = state_for(2, {0, 0}, {1, 1});
  engine::sum_all(engine::batch_norm(x, gamma, beta, state, true)).backward();
  // Training mode: the normalised values of a channel always sum to 0, so the sum does not move
  // with x or gamma; beta adds once per element, 4 per channel.
  // Zero up to float32 rounding of terms of size about 1.
  for (float g : x.grad_values()) CHECK(std::abs(g) < 1e-5f);
  for (float g : gamma.grad_values()) CHECK(std::abs(g) < 1e-5f);
  CHECK(beta.grad_values() == std::vector<float>{4, 4});

  // Eval mode with mean 0, var 1: d/dx = gamma / sqrt(1 + eps), d/dgamma = sum(x) / sqrt(1 + eps).
  x.zero_grad();
  gamma.zero_grad();
  beta.zero_grad();
  BatchNormState unit = state_for(2, {0, 0}, {1, 1});
  engine::sum_all(engine::batch_norm(x, gamma, beta, unit, false)).backward();
  float invstd = 1.0f / std::sqrt(1.0f + 1e-5f);
  CHECK(x.grad_values()[0] == doctest::Approx(2 * invstd));
  CHECK(x.grad_values()[2] == doctest::Approx(1 * invstd));
  CHECK(gamma.grad_values()[0] == doctest::Approx(12 * invstd));
  CHECK(gamma.grad_values()[1] == doctest::Approx(8 * invstd));
  CHECK(beta.grad_values() == std::vector<float>{4, 4});
}

TEST_CASE("batch_norm gradient checks in training mode, through the batch statistics") {
  for (size_t k = 0; k < kShapes.size(); ++k) {
    int C = kShapes[k][1];
    BatchNormState state = random_state(C, 10 + k);
    check_gradients(
        [&state](auto& in) { return engine::batch_norm(in[0], in[1], in[2], state, true); },
        {random_input(kShapes[k], 20 + k), random_input({C}, 30 + k, 0.5f, 1.5f),
         random_input({C}, 40 + k)});
  }
}

TEST_CASE("batch_norm gradient checks in eval mode") {
  for (size_t k = 0; k < kShapes.size(); ++k) {
    int C = kShapes[k][1];
    BatchNormState state = random_state(C, 50 + k);
    check_gradients(
        [&state](auto& in) { return engine::batch_norm(in[0], in[1], in[2], state, false); },
        {random_input(kShapes[k], 60 + k), random_input({C}, 70 + k, 0.5f, 1.5f),
         random_input({C}, 80 + k)});
  }
}

TEST_CASE("non-affine batch_norm: gradient checks in both modes") {
  for (bool training : {true, false}) {
    for (size_t k = 0; k < kShapes.size(); ++k) {
      BatchNormState state = random_state(kShapes[k][1], 90 + k);
      check_gradients(
          [&state, training](auto& in) {
            return engine::batch_norm(in[0], Tensor(), Tensor(), state, training);
          },
          {random_input(kShapes[k], 100 + k)});
    }
  }
}

TEST_CASE("batch_norm with a frozen x still gives gamma and beta their gradients") {
  Tensor x = random_input({2, 3, 4, 5}, 110);
  x.requires_grad_(false);
  BatchNormState state = random_state(3, 111);
  check_gradients(
      [&state, x](auto& in) { return engine::batch_norm(x, in[0], in[1], state, true); },
      {random_input({3}, 112), random_input({3}, 113)});
  CHECK_FALSE(x.has_grad());
}

TEST_CASE("batch_norm on a large batch normalises each channel to mean 0 and variance 1") {
  // Large enough to take the threaded path.
  engine::Rng rng(120);
  Tensor x = engine::randn({4, 8, 64, 64}, rng, 3.0f, 2.0f);
  BatchNormState state = state_for(8, std::vector<float>(8, 0), std::vector<float>(8, 1));
  Tensor y = engine::batch_norm(x, Tensor(), Tensor(), state, true);
  Tensor m = engine::mean(y, {0, 2, 3});
  Tensor sd = engine::std_unbiased(y, {0, 2, 3});
  for (int c = 0; c < 8; ++c) {
    // float32 normalisation of 16384 values: the mean is exact to a few float ulps of the spread.
    CHECK(std::abs(m.data()[c]) < 1e-5f);
    // The unbiased std of unit-variance data is sqrt(M / (M - 1)), M = 16384, less the eps shrink.
    CHECK(sd.data()[c] == doctest::Approx(std::sqrt(16384.0 / 16383.0)).epsilon(1e-5));
    // running mean 0.1 * batch mean, near 0.1 * 3.
    CHECK(state.running_mean.data()[c] == doctest::Approx(0.3f).epsilon(0.03));
  }
}

TEST_CASE("batch_norm rejects bad arguments") {
  BatchNormState state = state_for(3, {0, 0, 0}, {1, 1, 1});
  Tensor x({2, 3, 4, 4});
  CHECK_THROWS_AS(engine::batch_norm(Tensor({2, 3, 4}), Tensor(), Tensor(), state, true),
                  std::invalid_argument);
  CHECK_THROWS_AS(engine::batch_norm(x, Tensor({4}), Tensor(), state, true), std::invalid_argument);
  CHECK_THROWS_AS(engine::batch_norm(x, Tensor(), Tensor({1, 3}), state, true),
                  std::invalid_argument);
  CHECK_THROWS_AS(engine::batch_norm(Tensor({2, 4, 4, 4}), Tensor(), Tensor(), state, false),
                  std::invalid_argument);
  // One value per channel has no unbiased variance; PyTorch refuses too.
  CHECK_THROWS_AS(engine::batch_norm(Tensor({1, 3}), Tensor(), Tensor(), state, true),
                  std::invalid_argument);
  CHECK_NOTHROW(engine::batch_norm(Tensor({1, 3}), Tensor(), Tensor(), state, false));
  BatchNormState missing;
  CHECK_THROWS_AS(engine::batch_norm(x, Tensor(), Tensor(), missing, false), std::invalid_argument);
}
