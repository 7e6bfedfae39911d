// Binary elementwise ops: values with broadcasting, and finite-difference gradients.
#include <doctest/doctest.h>

#include <stdexcept>
#include <vector>

#include "engine/ops.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "tests/gradcheck.h"

using engine::Tensor;
using testing::check_gradients;
using testing::random_input;

TEST_CASE("add broadcasts a per-channel value over (N, C, H, W)") {
  Tensor x({2, 3, 1, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  Tensor c({1, 3, 1, 1}, {100, 200, 300});
  Tensor y = engine::add(x, c);
  CHECK(y.shape() == engine::Shape{2, 3, 1, 2});
  CHECK(y.data()[0] == 100);
  CHECK(y.data()[3] == 203);
  CHECK(y.data()[11] == 311);
}

TEST_CASE("binary ops reject shapes that do not broadcast") {
  CHECK_THROWS_AS(engine::add(Tensor({2, 3}), Tensor({3, 2})), std::invalid_argument);
}

TEST_CASE("gradients of add, sub, mul, div with and without broadcasting") {
  for (auto op : {engine::add, engine::sub, engine::mul}) {
    check_gradients([op](auto& in) { return op(in[0], in[1]); },
                    {random_input({3, 4, 5}, 1), random_input({3, 4, 5}, 2)});
    check_gradients([op](auto& in) { return op(in[0], in[1]); },
                    {random_input({2, 3, 3, 5}, 3), random_input({1, 3, 1, 1}, 4)});
    check_gradients([op](auto& in) { return op(in[0], in[1]); },
                    {random_input({1, 5}, 5), random_input({4, 1}, 6)});
  }
  // Divisors kept away from zero, where 1/y is steep.
  check_gradients([](auto& in) { return engine::div(in[0], in[1]); },
                  {random_input({2, 3, 2, 3}, 7), random_input({1, 3, 1, 1}, 8, 0.5f, 2.0f)});
}

TEST_CASE("a broadcast first operand gets its gradient summed") {
  for (auto op : {engine::add, engine::sub, engine::mul, engine::div})
    check_gradients(
        [op](auto& in) { return op(in[0], in[1]); },
        {random_input({1, 3, 1, 1}, 11, 0.5f, 2.0f), random_input({2, 3, 2, 2}, 12, 0.5f, 2.0f)});
}

TEST_CASE("random_where is where(bernoulli(...)) bit for bit, its gradients and the stream too") {
  const int64_t n = 150000;  // past the threading threshold
  for (const engine::Shape& b_shape : {engine::Shape{3, n / 3}, engine::Shape{1, n / 3}}) {
    engine::Rng data(31);
    Tensor a = engine::randn({3, n / 3}, data).requires_grad_();
    Tensor b = engine::randn(b_shape, data).requires_grad_();
    Tensor dout = engine::randn({3, n / 3}, data);
    engine::Rng fused(8), composed(8);
    Tensor y = engine::random_where(0.3f, fused, a, b);
    engine::sum_all(engine::mul(y, dout)).backward();
    const std::vector<float> ga = a.grad_values(), gb = b.grad_values();
    a.zero_grad();
    b.zero_grad();
    Tensor mask = engine::bernoulli({3, n / 3}, 0.3f, composed);
    Tensor expected = engine::where(mask, a, b);
    engine::sum_all(engine::mul(expected, dout)).backward();
    CHECK(y.values() == expected.values());
    CHECK(ga == a.grad_values());
    CHECK(gb == b.grad_values());
    CHECK(fused.state() == composed.state());
  }
}

TEST_CASE("large same-shape tensors (the threaded loops) get the exact gradients") {
  engine::Rng rng(13);
  const int64_t n = 200000;  // past the threading threshold
  Tensor a = engine::randn({n}, rng).requires_grad_();
  Tensor b = engine::randn({n}, rng).requires_grad_();
  Tensor mask = engine::bernoulli({n}, 0.5f, rng);
  Tensor y = engine::add(engine::mul(a, b), engine::where(mask, a, b));
  for (int64_t i = 0; i < n; i += 997)
    REQUIRE(y.data()[i] ==
            a.data()[i] * b.data()[i] + (mask.data()[i] != 0.0f ? a.data()[i] : b.data()[i]));
  engine::sum_all(y).backward();
  for (int64_t i = 0; i < n; ++i) {
    bool kept = mask.data()[i] != 0.0f;
    REQUIRE(a.grad()[i] == b.data()[i] + (kept ? 1.0f : 0.0f));
    REQUIRE(b.grad()[i] == a.data()[i] + (kept ? 0.0f : 1.0f));
  }
}

TEST_CASE("where selects by mask, broadcasts, and routes gradients to the chosen side") {
  Tensor mask({2, 3}, {1, 0, 1, 0, 0, 1});
  Tensor a({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b({1}, {-1});
  Tensor y = engine::where(mask, a, b);
  CHECK(y.values() == std::vector<float>{1, -1, 3, -1, -1, 6});
  check_gradients([mask](auto& in) { return engine::where(mask, in[0], in[1]); },
                  {random_input({2, 3}, 9), random_input({1, 3}, 10)});
}

// The reference loop adds each term rounded to float (volatile stops a fused multiply-add), in
// output order: what the kernel promises, at any thread count.
TEST_CASE("a broadcast input's gradient sums its rounded terms in order, at any thread count") {
  engine::Rng rng(14);
  const engine::Shape big{8, 16, 40, 40};  // 204,800 elements: past the threading threshold
  const int64_t plane = 40 * 40;
  Tensor x = engine::randn(big, rng), w = engine::randn(big, rng);
  for (const engine::Shape& shape : {engine::Shape{1}, engine::Shape{1, 16, 1, 1}}) {
    std::vector<float> expected(engine::numel_of(shape), 0.0f);
    for (int64_t i = 0; i < x.numel(); ++i) {
      volatile float term = w.data()[i] * x.data()[i];
      expected[shape.size() == 1 ? 0 : i / plane % 16] += term;
    }
    for (int threads : {1, 2}) {
      engine::set_threads(threads);
      Tensor step = Tensor(shape, 0.5f).requires_grad_();
      engine::sum_all(engine::mul(engine::mul(x, step), w)).backward();
      CHECK(step.grad_values() == expected);
    }
  }
  engine::set_threads(engine::resolve_threads(0));
}
