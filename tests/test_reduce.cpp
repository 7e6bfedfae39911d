// Reductions (sum, mean, unbiased std over chosen axes), the shape ops and the scalar ops:
// hand values, output shapes, errors, and finite-difference gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/ops.h"
#include "tests/gradcheck.h"

using engine::Shape;
using engine::Tensor;
using testing::check_gradients;
using testing::random_input;

namespace {

// x[i, j, k] = 100 i + 10 j + k, shape (2, 3, 4): every sum is easy to do by hand.
Tensor place_values() {
  std::vector<float> v;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) v.push_back(100.0f * i + 10.0f * j + k);
  return Tensor({2, 3, 4}, v);
}

}  // namespace

TEST_CASE("sum over one axis, several axes and negative axes, with and without keepdim") {
  Tensor x = place_values();
  Tensor s = engine::sum(x, {1});
  CHECK(s.shape() == Shape{2, 4});
  // sum_j (100 i + 10 j + k) = 300 i + 30 + 3 k
  CHECK(s.values() == std::vector<float>{30, 33, 36, 39, 330, 333, 336, 339});
  CHECK(engine::sum(x, {-2}).values() == s.values());
  Tensor sk = engine::sum(x, {1}, true);
  CHECK(sk.shape() == Shape{2, 1, 4});
  CHECK(sk.values() == s.values());
  // Over axes 0 and 2: sum_i sum_k = 4 * 100 + 2 * 4 * 10 j + 2 * 6 = 412 + 80 j.
  Tensor s02 = engine::sum(x, {0, -1});
  CHECK(s02.shape() == Shape{3});
  CHECK(s02.values() == std::vector<float>{412, 492, 572});
  CHECK(engine::sum(x, {2, 0}, true).shape() == Shape{1, 3, 1});
  Tensor all = engine::sum(x, {0, 1, 2});
  CHECK(all.shape() == Shape{1});
  CHECK(all.item() == 1476.0f);  // 12 * 100 + 8 * 30 + 6 * 6
  CHECK(engine::sum(x, {-3, -2, -1}, true).shape() == Shape{1, 1, 1});
}

TEST_CASE("mean divides by the number of reduced elements") {
  Tensor x = place_values();
  CHECK(engine::mean(x, {-1}).values() ==
        std::vector<float>{1.5f, 11.5f, 21.5f, 101.5f, 111.5f, 121.5f});
  Tensor m = engine::mean(x, {0, 1}, true);
  CHECK(m.shape() == Shape{1, 1, 4});
  CHECK(m.values() == std::vector<float>{60, 61, 62, 63});
}

TEST_CASE("std_unbiased divides by n - 1") {
  Tensor x({2, 4}, {1, 2, 3, 4, 2, 2, 2, 2});
  Tensor s = engine::std_unbiased(x, {1});
  CHECK(s.shape() == Shape{2});
  CHECK(s.data()[0] == doctest::Approx(std::sqrt(5.0 / 3.0)));
  CHECK(s.data()[1] == 0.0f);
  Tensor c = engine::std_unbiased(x, {-2}, true);
  CHECK(c.shape() == Shape{1, 4});
  // Columns (1, 2), (2, 2), (3, 2), (4, 2): |a - b| / sqrt(2).
  CHECK(c.data()[0] == doctest::Approx(1.0 / std::sqrt(2.0)));
  CHECK(c.data()[1] == 0.0f);
  CHECK(c.data()[3] == doctest::Approx(2.0 / std::sqrt(2.0)));
  CHECK_THROWS_AS(engine::std_unbiased(Tensor({3, 1}), {1}), std::invalid_argument);
}

TEST_CASE("std_unbiased of a constant has gradient 0, not NaN") {
  Tensor x({1, 5}, 3.0f);
  x.requires_grad_();
  engine::sum_all(engine::std_unbiased(x, {1})).backward();
  for (float g : x.grad_values()) CHECK(g == 0.0f);
}

TEST_CASE("sums are accumulated in double, so many small terms are not lost") {
  // In float, 1 + 2^-24 rounds back to 1 at every step; summed in double the total is exact.
  const int n = 1 << 20;
  std::vector<float> v(n + 1, 1.0f / (1 << 24));
  v[0] = 1.0f;
  CHECK(engine::sum_all(Tensor({n + 1}, v)).item() == 1.0625f);
}

TEST_CASE("reductions reject axes outside the tensor") {
  Tensor x({2, 3});
  // plan() throws std::out_of_range; std::logic_error also admits std::invalid_argument.
  CHECK_THROWS_AS(engine::sum(x, {2}), std::logic_error);
  CHECK_THROWS_AS(engine::mean(x, {-3}), std::logic_error);
  CHECK_THROWS_AS(engine::std_unbiased(x, {5}), std::logic_error);
}

TEST_CASE("sum_all and mean_all give shape (1)") {
  Tensor x = place_values();
  Tensor s = engine::sum_all(x), m = engine::mean_all(x);
  CHECK(s.shape() == Shape{1});
  CHECK(m.shape() == Shape{1});
  CHECK(s.item() == 1476.0f);
  CHECK(m.item() == doctest::Approx(61.5));
}

TEST_CASE("finite-difference gradients of the reductions") {
  uint64_t seed = 300;
  struct Case {
    Shape shape;
    std::vector<int> axes;
    bool keepdim;
  };
  // Odd, non-square shapes, batch 1 and > 1, positive and negative axes.
  for (const Case& c : {Case{{3, 5, 2}, {1}, false}, Case{{1, 3, 5, 7}, {0, 2, 3}, true},
                        Case{{4, 3, 5}, {-1}, true}, Case{{2, 3, 3, 5}, {-4, -2}, false}}) {
    INFO("shape " << engine::shape_str(c.shape));
    auto axes = c.axes;
    bool keep = c.keepdim;
    check_gradients([axes, keep](auto& in) { return engine::sum(in[0], axes, keep); },
                    {random_input(c.shape, ++seed)});
    check_gradients([axes, keep](auto& in) { return engine::mean(in[0], axes, keep); },
                    {random_input(c.shape, ++seed)});
    check_gradients([axes, keep](auto& in) { return engine::std_unbiased(in[0], axes, keep); },
                    {random_input(c.shape, ++seed)});
  }
  check_gradients([](auto& in) { return engine::sum_all(in[0]); }, {random_input({3, 4, 5}, 1)});
  check_gradients([](auto& in) { return engine::mean_all(in[0]); }, {random_input({1, 7}, 2)});
}

TEST_CASE("reshape infers one -1, shares storage, and rejects bad shapes") {
  Tensor x = place_values();
  Tensor r = engine::reshape(x, {-1, 4});
  CHECK(r.shape() == Shape{6, 4});
  CHECK(r.data() == x.data());
  CHECK(engine::reshape(x, {4, 3, 2}).shape() == Shape{4, 3, 2});
  CHECK(engine::reshape(x, {2, -1, 2}).shape() == Shape{2, 6, 2});
  CHECK_THROWS_AS(engine::reshape(x, {-1, -1}), std::invalid_argument);
  CHECK_THROWS_AS(engine::reshape(x, {5, -1}), std::invalid_argument);
  CHECK_THROWS_AS(engine::reshape(x, {5, 5}), std::invalid_argument);
  CHECK_THROWS_AS(engine::reshape(x, {0, -1}), std::invalid_argument);
}

TEST_CASE("flatten keeps the batch axis, including batch 1") {
  CHECK(engine::flatten(Tensor({5, 3, 2, 2})).shape() == Shape{5, 12});
  CHECK(engine::flatten(Tensor({1, 3, 7})).shape() == Shape{1, 21});
  CHECK(engine::flatten(Tensor({4})).shape() == Shape{4, 1});
}

TEST_CASE("finite-difference gradients of reshape and flatten") {
  check_gradients(
      [](auto& in) {
        return engine::reshape(in[0], {5, -1});
      },
      {random_input({3, 5, 2}, 11)});
  check_gradients([](auto& in) { return engine::flatten(in[0]); },
                  {random_input({1, 3, 2, 5}, 12)});
  check_gradients([](auto& in) { return engine::flatten(in[0]); },
                  {random_input({3, 2, 1, 3}, 13)});
}

TEST_CASE("scalar ops: values and gradients") {
  Tensor x({3}, {-1.0f, 0.0f, 2.5f});
  CHECK(engine::add_scalar(x, 2.0f).values() == std::vector<float>{1, 2, 4.5f});
  CHECK(engine::mul_scalar(x, -2.0f).values() == std::vector<float>{2, 0, -5});
  check_gradients([](auto& in) { return engine::add_scalar(in[0], 0.7f); },
                  {random_input({2, 3, 5}, 21)});
  check_gradients([](auto& in) { return engine::mul_scalar(in[0], -1.3f); },
                  {random_input({1, 7, 3}, 22)});
}
