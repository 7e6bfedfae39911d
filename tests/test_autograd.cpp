// The autodiff core: accumulation, shared inputs, grad mode, frozen tensors, detach, errors,
// and graphs deep enough that a recursive backward or destructor would overflow the stack.
#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"

using engine::Tensor;

namespace {

Tensor leaf(std::vector<float> values) {
  int n = static_cast<int>(values.size());
  Tensor t({n}, std::move(values));
  t.requires_grad_();
  return t;
}

}  // namespace

TEST_CASE("gradients accumulate across two backward() calls until zero_grad") {
  Tensor x = leaf({1.0f, -2.0f});
  engine::sum_all(engine::mul_scalar(x, 3.0f)).backward();
  CHECK(x.grad_values() == std::vector<float>{3, 3});
  engine::sum_all(engine::mul(x, x)).backward();
  CHECK(x.grad_values() == std::vector<float>{3 + 2, 3 - 4});
  x.zero_grad();
  CHECK_FALSE(x.has_grad());
  engine::sum_all(engine::mul_scalar(x, 3.0f)).backward();
  CHECK(x.grad_values() == std::vector<float>{3, 3});
}

TEST_CASE("a tensor used on two paths gets the sum of both") {
  Tensor x = leaf({2.0f, 5.0f});
  Tensor y = engine::add(engine::mul_scalar(x, 2.0f), engine::mul_scalar(x, 3.0f));
  engine::sum_all(y).backward();
  CHECK(x.grad_values() == std::vector<float>{5, 5});

  // A diamond through a shared intermediate: h = 2x, loss = sum(h * h + h) -> 8x + 2.
  Tensor z = leaf({1.0f, -1.0f});
  Tensor h = engine::mul_scalar(z, 2.0f);
  engine::sum_all(engine::add(engine::mul(h, h), h)).backward();
  CHECK(z.grad_values() == std::vector<float>{10, -6});
}

TEST_CASE("NoGrad records nothing, nests, and restores the previous mode") {
  Tensor x = leaf({1.0f, 2.0f});
  CHECK(engine::grad_enabled());
  {
    engine::NoGrad outer;
    CHECK_FALSE(engine::grad_enabled());
    Tensor y = engine::mul_scalar(x, 2.0f);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.node()->inputs.empty());
    CHECK_FALSE(static_cast<bool>(y.node()->backward));
    {
      engine::NoGrad inner;
      CHECK_FALSE(engine::grad_enabled());
    }
    CHECK_FALSE(engine::grad_enabled());  // the inner scope restores "off", not "on"
  }
  CHECK(engine::grad_enabled());
  CHECK(engine::mul_scalar(x, 2.0f).requires_grad());
}

TEST_CASE("a frozen tensor gets no gradient while the gradient still reaches its partner") {
  Tensor w({2}, {3.0f, -4.0f});  // frozen: requires_grad is false
  Tensor x = leaf({1.0f, 2.0f});
  engine::sum_all(engine::mul(w, x)).backward();
  CHECK(x.grad_values() == std::vector<float>{3, -4});
  CHECK_FALSE(w.has_grad());

  // Freezing a leaf that did require a gradient stops it from receiving one.
  Tensor v = leaf({1.0f});
  v.requires_grad_(false);
  Tensor u = leaf({2.0f});
  engine::sum_all(engine::mul(engine::mul(v, u), v)).backward();
  CHECK(u.grad_values() == std::vector<float>{1});
  CHECK_FALSE(v.has_grad());
}

TEST_CASE("only leaves keep their gradient, and backward frees the graph") {
  Tensor x = leaf({1.0f, 2.0f});
  Tensor h = engine::mul_scalar(x, 2.0f);
  Tensor loss = engine::sum_all(h);
  loss.backward();
  CHECK(x.grad_values() == std::vector<float>{2, 2});
  CHECK_FALSE(h.has_grad());
  CHECK(h.node()->inputs.empty());
  CHECK(loss.node()->inputs.empty());
}

// As in PyTorch, an intermediate that nothing holds is freed as soon as every op that read it has
// run its backward: the pass does not keep the whole forward alive to its end.
TEST_CASE("backward frees an intermediate once its consumers have run") {
  Tensor x = leaf({1.0f, 2.0f});
  std::weak_ptr<engine::Node> middle;
  bool freed_before_producer_ran = false;
  Tensor loss;
  {
    Tensor first = engine::mul_scalar(x, 3.0f);  // its backward runs last
    Tensor probe = Tensor({2}, 0.0f);            // first, seen by its producer's backward
    engine::record(probe, {first},
                   [first, o = probe.node(), &middle, &freed_before_producer_ran]() {
                     freed_before_producer_ran = middle.expired();
                     for (int i = 0; i < 2; ++i) first.grad()[i] += o->gradient()[i];
                   });
    Tensor h = engine::mul_scalar(probe, 2.0f);
    middle = h.node_ptr();
    loss = engine::sum_all(h);
  }
  loss.backward();
  CHECK(freed_before_producer_ran);
  CHECK(x.grad_values() == std::vector<float>{6, 6});
}

TEST_CASE("backward needs a one-element tensor that requires a gradient") {
  Tensor x = leaf({1.0f, 2.0f});
  CHECK_THROWS_AS(engine::mul_scalar(x, 2.0f).backward(), std::invalid_argument);
  CHECK_THROWS_AS(engine::sum_all(Tensor({3}, 1.0f)).backward(), std::logic_error);
  CHECK_FALSE(x.has_grad());
}

TEST_CASE("detach cuts the history but shares the values") {
  Tensor x = leaf({1.0f, 2.0f});
  Tensor h = engine::mul_scalar(x, 3.0f);
  Tensor d = h.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.data() == h.data());
  CHECK(d.values() == std::vector<float>{3, 6});
  CHECK_FALSE(engine::sum_all(d).requires_grad());
  // loss = sum(d * x): d is a constant, so dloss/dx = d, not 2 * 3x.
  engine::sum_all(engine::mul(d, x)).backward();
  CHECK(x.grad_values() == std::vector<float>{3, 6});
}

TEST_CASE("clone copies the values into storage of its own") {
  Tensor x = leaf({1.0f, 2.0f});
  Tensor c = x.clone();
  CHECK_FALSE(c.requires_grad());
  c.data()[0] = 9.0f;
  CHECK(x.data()[0] == 1.0f);
}

TEST_CASE("a chain of 100000 ops backprops and is destroyed without stack overflow") {
  // A recursive topological sort or a recursive chain of Node destructors would need a stack
  // frame per op; 100000 of them overflow the default 8 MiB stack.
  const int depth = 100000;
  Tensor x = leaf({0.5f});
  {
    Tensor y = x;
    for (int i = 0; i < depth; ++i) y = engine::add_scalar(engine::mul_scalar(y, 1.0f), 1.0f);
    CHECK(y.item() == 0.5f + depth);
    y.backward();
  }
  CHECK(x.grad_values() == std::vector<float>{1});
}

TEST_CASE("a second backward through a freed graph is an error, not a silent no-op") {
  Tensor x = leaf({2.0f});
  Tensor loss = engine::mul(x, x);
  loss.backward();
  CHECK(x.grad_values() == std::vector<float>{4});
  CHECK_THROWS_AS(loss.backward(), std::logic_error);
}

TEST_CASE("a graph of 1000000 ops that is never backpropagated is destroyed without overflow") {
  // Without the iterative Node destructor each node's destruction recursed into its input's.
  Tensor x = leaf({0.5f});
  Tensor y = x;
  for (int i = 0; i < 1000000; ++i) y = engine::add_scalar(y, 1.0f);
  CHECK(y.item() == doctest::Approx(0.5f + 1000000));
  y = Tensor();
  CHECK_FALSE(y.defined());
}

TEST_CASE("tensor construction rejects mismatched values and answers size() from the end") {
  CHECK_THROWS_AS(Tensor({2, 3}, std::vector<float>(5)), std::invalid_argument);
  CHECK_THROWS_AS(Tensor({2, -3}), std::invalid_argument);
  Tensor t({2, 3, 5});
  CHECK(t.size(-1) == 5);
  CHECK(t.size(0) == 2);
  CHECK_THROWS_AS(t.size(3), std::out_of_range);
  CHECK_THROWS_AS(Tensor({2}).item(), std::invalid_argument);
}
