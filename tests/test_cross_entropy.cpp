// Softmax cross-entropy: hand values, numerical stability, label checking, and gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/gradcheck.h"

using engine::Tensor;
using testing::check_gradients;
using testing::random_input;

namespace {

// -log softmax(row)[label] straight from the definition, in double.
double nll(const std::vector<double>& row, int label) {
  double z = 0.0;
  for (double v : row) z += std::exp(v);
  return -std::log(std::exp(row[label]) / z);
}

}  // namespace

TEST_CASE("cross-entropy equals the hand computation and torch's value") {
  Tensor logits({2, 3}, {1.0f, 2.0f, 3.0f, 0.5f, -1.0f, 2.0f});
  Tensor loss = engine::softmax_cross_entropy(logits, {2, 0});
  CHECK(loss.shape() == engine::Shape{1});
  double expect = (nll({1, 2, 3}, 2) + nll({0.5, -1, 2}, 0)) / 2;
  CHECK(loss.item() == doctest::Approx(expect).epsilon(1e-6));
  // torch.nn.functional.cross_entropy on the same inputs (PyTorch 1.13).
  CHECK(loss.item() == doctest::Approx(1.0744586).epsilon(1e-6));
}

TEST_CASE("cross-entropy gradient is (softmax - onehot) / N") {
  Tensor logits({2, 3}, {1.0f, 2.0f, 3.0f, 0.5f, -1.0f, 2.0f});
  logits.requires_grad_();
  engine::softmax_cross_entropy(logits, {2, 0}).backward();
  const std::vector<float>& g = logits.grad_values();
  double z0 = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  double z1 = std::exp(0.5) + std::exp(-1.0) + std::exp(2.0);
  CHECK(g[0] == doctest::Approx(std::exp(1.0) / z0 / 2));
  CHECK(g[2] == doctest::Approx((std::exp(3.0) / z0 - 1) / 2));
  CHECK(g[3] == doctest::Approx((std::exp(0.5) / z1 - 1) / 2));
  CHECK(g[5] == doctest::Approx(std::exp(2.0) / z1 / 2));
}

TEST_CASE("cross-entropy is stable for huge logits") {
  Tensor logits({2, 2}, {1000.0f, 0.0f, -1000.0f, 1000.0f});
  logits.requires_grad_();
  CHECK(engine::softmax_cross_entropy(logits, {0, 1}).item() == doctest::Approx(0.0));
  Tensor wrong = engine::softmax_cross_entropy(logits, {1, 0});
  CHECK(wrong.item() == doctest::Approx(1500.0));  // (1000 + 2000) / 2
  wrong.backward();
  CHECK(logits.grad_values() == std::vector<float>{0.5f, -0.5f, -0.5f, 0.5f});
}

TEST_CASE("cross-entropy rejects bad labels and shapes") {
  Tensor logits({2, 3});
  CHECK_THROWS_AS(engine::softmax_cross_entropy(logits, {0, 3}), std::invalid_argument);
  CHECK_THROWS_AS(engine::softmax_cross_entropy(logits, {-1, 0}), std::invalid_argument);
  CHECK_THROWS_AS(engine::softmax_cross_entropy(logits, {0}), std::invalid_argument);
  CHECK_THROWS_AS(engine::softmax_cross_entropy(Tensor({6}), {0}), std::invalid_argument);
  CHECK_THROWS_AS(engine::softmax_cross_entropy(Tensor({0, 3}), {}), std::invalid_argument);
}

TEST_CASE("finite-difference gradients of cross-entropy") {
  // Logits spread over [-3, 3) so the softmax is neither uniform nor saturated.
  check_gradients([](auto& in) { return engine::softmax_cross_entropy(in[0], {4}); },
                  {random_input({1, 7}, 31, -3, 3)});
  check_gradients(
      [](auto& in) {
        return engine::softmax_cross_entropy(in[0], {0, 4, 2, 4, 1});
      },
      {random_input({5, 6}, 32, -3, 3)});
  check_gradients(
      [](auto& in) {
        return engine::softmax_cross_entropy(in[0], {9, 0, 3});
      },
      {random_input({3, 10}, 33, -3, 3)});
}

TEST_CASE("large batches take the parallel path and match the definition") {
  // 300 * 301 elements, above the 65536-element OpenMP threshold.
  const int n = 300, k = 301;
  engine::Rng rng(7);
  Tensor logits = engine::rand_uniform({n, k}, rng, -5, 5);
  logits.requires_grad_();
  std::vector<int> labels(n);
  double expect = 0.0;
  for (int i = 0; i < n; ++i) {
    labels[i] = rng.integer(k);
    std::vector<double> row(logits.data() + i * k, logits.data() + (i + 1) * k);
    expect += nll(row, labels[i]) / n;
  }
  Tensor loss = engine::softmax_cross_entropy(logits, labels);
  CHECK(loss.item() == doctest::Approx(expect).epsilon(1e-6));
  loss.backward();
  // Each row of softmax - onehot sums to 0.
  double worst = 0.0;
  for (int i = 0; i < n; ++i) {
    double row_sum = 0.0;
    for (int j = 0; j < k; ++j) row_sum += logits.grad_values()[i * k + j];
    worst = std::max(worst, std::abs(row_sum));
  }
  CHECK(worst < 1e-7);  // k float terms of size ~1/(n k), rounding to ~1e-9 each
}
