// Pooling: hand-computed max and average pools (padding, ties, -inf padding), the global average,
// finite-difference gradients, the threaded path, and bad arguments.
#include <doctest/doctest.h>

#include <functional>
#include <stdexcept>
#include <vector>

#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/gradcheck.h"

using engine::Shape;
using engine::Tensor;
using testing::check_gradients;
using testing::random_input;

namespace {

// Values 0.03 apart in shuffled order, so no two elements of a window are within the finite
// difference step (1e-2) of each other and the argmax never changes during a gradient check.
Tensor distinct_input(const Shape& shape, uint64_t seed) {
  int64_t n = engine::numel_of(shape);
  std::vector<int> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = static_cast<int>(i);
  engine::Rng rng(seed);
  rng.shuffle(order);
  std::vector<float> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = 0.03f * static_cast<float>(order[i] - n / 2);
  Tensor t(shape, values);
  t.requires_grad_();
  return t;
}

struct PoolCase {
  Shape shape;
  int kernel, stride, padding;
};

// Odd, non-square shapes, batch 1 and > 1; windows that overlap, tile, pad, and leave rows unused.
const std::vector<PoolCase> kCases = {{{1, 3, 7, 9}, 3, 2, 1},
                                      {{2, 2, 6, 5}, 2, 2, 0},
                                      {{3, 1, 5, 7}, 3, 1, 1},
                                      {{2, 3, 7, 8}, 3, 3, 0}};

// Plane p of x as a (1, 1, H, W) tensor.
Tensor plane_of(const Tensor& x, int p) {
  int64_t size = int64_t{x.size(2)} * x.size(3);
  std::vector<float> v(x.data() + p * size, x.data() + (p + 1) * size);
  return Tensor({1, 1, x.size(2), x.size(3)}, v);
}

}  // namespace

TEST_CASE("max_pool2d values with and without padding") {
  std::vector<float> ramp(16);
  for (int i = 0; i < 16; ++i) ramp[i] = static_cast<float>(i);
  Tensor y = engine::max_pool2d(Tensor({1, 1, 4, 4}, ramp), 2, 2, 0);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  CHECK(y.values() == std::vector<float>{5, 7, 13, 15});
  // 3x3 input 0..8, kernel 3, stride 2, padding 1: windows centred on the corners.
  Tensor z = engine::max_pool2d(Tensor({1, 1, 3, 3}, {0.0f, 1, 2, 3, 4, 5, 6, 7, 8}), 3, 2, 1);
  CHECK(z.shape() == Shape{1, 1, 2, 2});
  CHECK(z.values() == std::vector<float>{4, 5, 7, 8});
  // Padding is -inf, not 0: an all-negative input keeps negative maxima.
  Tensor neg = engine::max_pool2d(Tensor({1, 1, 2, 2}, {-4, -3, -2, -1}), 2, 1, 1);
  CHECK(neg.values() == std::vector<float>{-4, -3, -3, -2, -1, -1, -2, -1, -1});
}

TEST_CASE("max_pool2d sends the gradient to the first of tied maxima") {
  Tensor x({1, 1, 2, 4}, {1, 1, 0, 2, 1, 1, 2, 2});
  x.requires_grad_();
  engine::sum_all(engine::max_pool2d(x, 2, 2, 0)).backward();
  CHECK(x.grad_values() == std::vector<float>{1, 0, 0, 1, 0, 0, 0, 0});
  // Overlapping windows that pick the same element add their gradients.
  Tensor w({1, 1, 1, 3}, {0.0f, 5, 1});
  w.requires_grad_();
  engine::sum_all(engine::max_pool2d(w, 3, 1, 1)).backward();
  CHECK(w.grad_values() == std::vector<float>{0, 3, 0});
}

TEST_CASE("avg_pool2d counts the zero padding in the divisor") {
  Tensor x({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor y = engine::avg_pool2d(x, 2, 2, 1);
  CHECK(y.values() == std::vector<float>{0.25f, 0.5f, 0.75f, 1.0f});
  Tensor z = engine::avg_pool2d(Tensor({1, 1, 2, 3}, {1, 2, 3, 4, 5, 6}), 2, 1, 0);
  CHECK(z.values() == std::vector<float>{3, 4});
  x.requires_grad_();
  engine::sum_all(engine::avg_pool2d(x, 3, 1, 1)).backward();
  // Each pixel lies in all 4 windows of the 2x2 output, each dividing by 9.
  for (float g : x.grad_values()) CHECK(g == doctest::Approx(4.0f / 9));
}

TEST_CASE("global_avg_pool averages each plane") {
  Tensor x({2, 2, 1, 3}, {1, 2, 3, 0, 0, 3, -3, -3, -3, 6, 6, 9});
  x.requires_grad_();
  Tensor y = engine::global_avg_pool(x);
  CHECK(y.shape() == Shape{2, 2});
  CHECK(y.values() == std::vector<float>{2, 1, -3, 7});
  engine::sum_all(engine::mul(y, Tensor({2, 2}, {3, 0, 6, 0}))).backward();
  CHECK(x.grad_values() == std::vector<float>{1, 1, 1, 0, 0, 0, 2, 2, 2, 0, 0, 0});
}

TEST_CASE("pooling gradient checks") {
  for (size_t k = 0; k < kCases.size(); ++k) {
    const PoolCase& c = kCases[k];
    check_gradients(
        [c](auto& in) { return engine::max_pool2d(in[0], c.kernel, c.stride, c.padding); },
        {distinct_input(c.shape, 1 + k)});
    check_gradients(
        [c](auto& in) { return engine::avg_pool2d(in[0], c.kernel, c.stride, c.padding); },
        {random_input(c.shape, 11 + k)});
    check_gradients([](auto& in) { return engine::global_avg_pool(in[0]); },
                    {random_input(c.shape, 21 + k)});
  }
}

TEST_CASE("pooling a large batch in threads agrees plane by plane") {
  engine::Rng rng(30);
  Tensor x = engine::randn({2, 40, 33, 35}, rng);
  using Pool = std::function<Tensor(const Tensor&)>;
  for (Pool pool :
       {Pool([](const Tensor& t) { return engine::max_pool2d(t, 3, 2, 1); }),
        Pool([](const Tensor& t) { return engine::avg_pool2d(t, 3, 2, 1); }),
        Pool([](const Tensor& t) {
          return engine::reshape(engine::global_avg_pool(t), {t.size(0), t.size(1), 1, 1});
        })}) {
    Tensor all = pool(x);
    for (int p : {0, 37, 79}) {
      Tensor one = pool(plane_of(x, p));
      for (int64_t i = 0; i < one.numel(); ++i)
        CHECK(all.data()[p * one.numel() + i] == one.data()[i]);
    }
  }
}

TEST_CASE("pooling rejects bad arguments") {
  Tensor x({1, 2, 5, 5});
  for (auto pool : {engine::max_pool2d, engine::avg_pool2d}) {
    CHECK_THROWS_AS(pool(Tensor({2, 5, 5}), 2, 2, 0), std::invalid_argument);
    CHECK_THROWS_AS(pool(x, 0, 1, 0), std::invalid_argument);
    CHECK_THROWS_AS(pool(x, 2, 0, 0), std::invalid_argument);
    CHECK_THROWS_AS(pool(x, 2, 2, -1), std::invalid_argument);
    CHECK_THROWS_AS(pool(x, 3, 1, 2), std::invalid_argument);  // padding over half the kernel
    CHECK_THROWS_AS(pool(x, 6, 1, 0), std::invalid_argument);  // kernel past the input
    CHECK_NOTHROW(pool(x, 5, 1, 0));
  }
  CHECK_THROWS_AS(engine::global_avg_pool(Tensor({2, 3})), std::invalid_argument);
  CHECK_THROWS_AS(engine::global_avg_pool(Tensor({2, 3, 0, 4})), std::invalid_argument);
}
