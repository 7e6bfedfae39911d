// Unary elementwise ops: hand values, the derivative conventions at kinks, and finite-difference
// gradients away from the kinks.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "engine/ops.h"
#include "tests/gradcheck.h"

using engine::Tensor;
using testing::avoid_kinks;
using testing::check_gradients;
using testing::random_input;

namespace {

// The gradient d(sum(op(x) * upstream))/dx, i.e. upstream times the local derivative.
std::vector<float> grad_of(Tensor (*op)(const Tensor&), std::vector<float> x,
                           std::vector<float> upstream) {
  Tensor in({static_cast<int>(x.size())}, x);
  in.requires_grad_();
  Tensor up({static_cast<int>(upstream.size())}, upstream);
  engine::sum_all(engine::mul(op(in), up)).backward();
  return in.grad_values();
}

// Shapes for the gradient checks: odd, non-square, batch 1 and batch > 1.
const std::vector<engine::Shape> kShapes = {{1, 3, 5, 7}, {4, 3, 5}, {2, 7}};

// Finite differences step by GradTolerance::eps = 1e-2; twice that keeps every x + eps and
// x - eps on the same side of a kink.
constexpr float kKinkMargin = 2e-2f;

}  // namespace

TEST_CASE("relu and leaky_relu values, and their derivatives at 0 as in PyTorch") {
  Tensor x({5}, {-2.0f, -0.5f, 0.0f, 0.5f, 3.0f});
  CHECK(engine::relu(x).values() == std::vector<float>{0, 0, 0, 0.5f, 3});
  CHECK(engine::leaky_relu(x, 0.1f).values() == std::vector<float>{-0.2f, -0.05f, 0, 0.5f, 3});
  CHECK(grad_of(engine::relu, {-1, 0, 2}, {5, 5, 5}) == std::vector<float>{0, 0, 5});
  x = Tensor({3}, {-1, 0, 2});
  x.requires_grad_();
  engine::sum_all(engine::leaky_relu(x, 0.25f)).backward();
  CHECK(x.grad_values() == std::vector<float>{0.25f, 0.25f, 1});
}

TEST_CASE("relu and clamp propagate NaN rather than hiding it") {
  float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(std::isnan(engine::relu(Tensor({1}, {nan})).item()));
  CHECK(std::isnan(engine::clamp(Tensor({1}, {nan}), -1, 1).item()));
}

TEST_CASE("tanh and sigmoid values, and sigmoid stays finite for large |x|") {
  Tensor x({4}, {-100.0f, -1.0f, 0.0f, 2.0f});
  Tensor t = engine::tanh(x), s = engine::sigmoid(x);
  CHECK(t.data()[1] == doctest::Approx(-0.7615942));
  CHECK(t.data()[3] == doctest::Approx(0.9640276));
  CHECK(s.data()[0] == doctest::Approx(0.0).epsilon(1e-30));
  CHECK(s.data()[1] == doctest::Approx(0.2689414));
  CHECK(s.data()[2] == 0.5f);
  CHECK(s.data()[3] == doctest::Approx(0.8807971));
  CHECK(engine::sigmoid(Tensor({1}, {100.0f})).item() == 1.0f);
  CHECK(grad_of(engine::sigmoid, {0}, {2})[0] == doctest::Approx(0.5));
  CHECK(grad_of(engine::tanh, {0}, {2})[0] == doctest::Approx(2.0));
}

TEST_CASE("square, abs and pow values; abs has gradient 0 at 0") {
  Tensor x({4}, {-3.0f, -0.5f, 0.0f, 2.0f});
  CHECK(engine::square(x).values() == std::vector<float>{9, 0.25f, 0, 4});
  CHECK(engine::abs(x).values() == std::vector<float>{3, 0.5f, 0, 2});
  CHECK(grad_of(engine::abs, {-3, 0, 2}, {7, 7, 7}) == std::vector<float>{-7, 0, 7});
  CHECK(engine::pow(x, 3.0f).values() == std::vector<float>{-27, -0.125f, 0, 8});
  Tensor r = engine::pow(Tensor({2}, {4.0f, 0.25f}), 0.5f);
  CHECK(r.values() == std::vector<float>{2, 0.5f});
}

TEST_CASE("pow gradient is p * x^(p-1), and 0 for p = 0 even at x = 0 (as PyTorch)") {
  Tensor x({3}, {0.0f, 2.0f, -1.5f});
  x.requires_grad_();
  engine::sum_all(engine::pow(x, 3.0f)).backward();
  CHECK(x.grad_values() == std::vector<float>{0, 12, 6.75f});
  x.zero_grad();
  engine::sum_all(engine::pow(x, 0.0f)).backward();
  CHECK(x.grad_values() == std::vector<float>{0, 0, 0});
  x = Tensor({1}, {4.0f});
  x.requires_grad_();
  engine::sum_all(engine::pow(x, 0.5f)).backward();
  CHECK(x.grad_values()[0] == doctest::Approx(0.25));
}

TEST_CASE("clamp values; the gradient passes inside and exactly at the bounds") {
  Tensor x({5}, {-2.0f, -1.0f, 0.3f, 1.0f, 1.5f});
  x.requires_grad_();
  Tensor y = engine::clamp(x, -1.0f, 1.0f);
  CHECK(y.values() == std::vector<float>{-1, -1, 0.3f, 1, 1});
  engine::sum_all(engine::mul_scalar(y, 3.0f)).backward();
  CHECK(x.grad_values() == std::vector<float>{0, 3, 3, 3, 0});
  CHECK(engine::clamp(x, 0.5f, 0.5f).values() == std::vector<float>{0.5f, 0.5f, 0.5f, 0.5f, 0.5f});
  CHECK_THROWS_AS(engine::clamp(x, 1.0f, -1.0f), std::invalid_argument);
}

TEST_CASE("round_ste rounds half to even and passes the upstream gradient straight through") {
  Tensor x({9}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 0.49f, 2.51f, -2.7f});
  Tensor r = engine::round_ste(x);
  CHECK(r.values() == std::vector<float>{0, 2, 2, -0.0f, -2, -2, 0, 3, -3});
  CHECK(std::signbit(r.data()[3]));  // round(-0.5) is -0, as torch.round
  std::vector<float> upstream = {0.5f, -1, 2, 3, -4, 5, 6, -7, 8};
  CHECK(grad_of(engine::round_ste, x.values(), upstream) == upstream);
}

TEST_CASE("floor values and zero gradient") {
  Tensor x({4}, {-1.5f, -0.0f, 0.99f, 2.0f});
  CHECK(engine::floor(x).values() == std::vector<float>{-2, -0.0f, 0, 2});
  CHECK(grad_of(engine::floor, x.values(), {1, 2, 3, 4}) == std::vector<float>{0, 0, 0, 0});
}

TEST_CASE("finite-difference gradients of the smooth ops") {
  uint64_t seed = 100;
  for (const engine::Shape& shape : kShapes) {
    check_gradients([](auto& in) { return engine::tanh(in[0]); },
                    {random_input(shape, ++seed, -2, 2)});
    check_gradients([](auto& in) { return engine::sigmoid(in[0]); },
                    {random_input(shape, ++seed, -4, 4)});
    check_gradients([](auto& in) { return engine::square(in[0]); }, {random_input(shape, ++seed)});
    // Integer exponent: defined for negative x too.
    check_gradients([](auto& in) { return engine::pow(in[0], 3.0f); },
                    {random_input(shape, ++seed)});
    // Fractional exponent: x kept in [0.5, 2), away from x = 0 where x^-0.5 blows up.
    check_gradients([](auto& in) { return engine::pow(in[0], 1.5f); },
                    {random_input(shape, ++seed, 0.5f, 2.0f)});
    check_gradients([](auto& in) { return engine::pow(in[0], -0.5f); },
                    {random_input(shape, ++seed, 0.5f, 2.0f)});
  }
}

TEST_CASE("finite-difference gradients of the piecewise ops away from their kinks") {
  uint64_t seed = 200;
  for (const engine::Shape& shape : kShapes) {
    Tensor x = random_input(shape, ++seed, -2, 2);
    avoid_kinks(x, {0.0f}, kKinkMargin);
    check_gradients([](auto& in) { return engine::relu(in[0]); }, {x});
    check_gradients([](auto& in) { return engine::leaky_relu(in[0], 0.2f); }, {x});
    check_gradients([](auto& in) { return engine::abs(in[0]); }, {x});
    Tensor c = random_input(shape, ++seed, -2, 2);
    avoid_kinks(c, {-0.75f, 1.25f}, kKinkMargin);
    check_gradients([](auto& in) { return engine::clamp(in[0], -0.75f, 1.25f); }, {c});
    // floor's kinks are the integers; between them its finite difference is 0 like its gradient.
    Tensor f = random_input(shape, ++seed, -2, 2);
    avoid_kinks(f, {-2.0f, -1.0f, 0.0f, 1.0f, 2.0f}, kKinkMargin);
    check_gradients([](auto& in) { return engine::floor(in[0]); }, {f});
  }
}

TEST_CASE("large tensors take the parallel path and agree elementwise") {
  // Above the 65536-element threshold for OpenMP.
  const int n = 100003;
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = static_cast<float>(i % 7) - 3.0f;
  Tensor x({n}, v);
  x.requires_grad_();
  Tensor y = engine::leaky_relu(x, 0.5f);
  engine::sum_all(y).backward();
  int wrong = 0;
  for (int i = 0; i < n; ++i) {
    float expect = v[i] > 0 ? v[i] : 0.5f * v[i];
    float expect_grad = v[i] > 0 ? 1.0f : 0.5f;
    wrong += y.data()[i] != expect || x.grad_values()[i] != expect_grad;
  }
  CHECK(wrong == 0);
}

TEST_CASE("unary ops on a frozen input record nothing") {
  Tensor x({2, 3}, 1.5f);
  CHECK_FALSE(engine::tanh(x).requires_grad());
  CHECK_FALSE(engine::round_ste(x).requires_grad());
}
