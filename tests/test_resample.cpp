// Resampling and index-map ops: hand-computed nearest upsampling, reflection padding, cropping and
// the ResNet subsample-and-pad shortcut, their gradients, the threaded path, and bad arguments.
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

// Odd, non-square shapes, batch 1 and > 1.
const std::vector<Shape> kShapes = {{1, 3, 5, 7}, {2, 2, 4, 3}, {3, 1, 3, 6}};

// The gradient of sum(op(x) * upstream) w.r.t. x, with an upstream of 1, 2, 3, ...
std::vector<float> grad_of(const std::function<Tensor(const Tensor&)>& op, Tensor x) {
  x.requires_grad_();
  Tensor y = op(x);
  std::vector<float> upstream(y.numel());
  for (size_t i = 0; i < upstream.size(); ++i) upstream[i] = static_cast<float>(i + 1);
  engine::sum_all(engine::mul(y, Tensor(y.shape(), upstream))).backward();
  return x.grad_values();
}

}  // namespace

TEST_CASE("upsample_nearest2x repeats each pixel in a 2x2 block") {
  Tensor x({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor y = engine::upsample_nearest2x(x);
  CHECK(y.shape() == Shape{1, 1, 4, 4});
  CHECK(y.values() == std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // Upstream 1..16: pixel 0 collects 1 + 2 + 5 + 6.
  CHECK(grad_of(engine::upsample_nearest2x, x) == std::vector<float>{14, 22, 46, 54});
}

TEST_CASE("reflection_pad2d mirrors without repeating the edge") {
  Tensor x({1, 1, 2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y = engine::reflection_pad2d(x, 1);
  CHECK(y.shape() == Shape{1, 1, 4, 5});
  CHECK(y.values() ==
        std::vector<float>{5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 2, 1, 2, 3, 2});
  // Each input pixel sums the upstream values at the output positions holding it.
  auto pad1 = [](const Tensor& t) { return engine::reflection_pad2d(t, 1); };
  CHECK(grad_of(pad1, x) == std::vector<float>{7 + 17, 6 + 8 + 10 + 16 + 18 + 20, 9 + 19, 2 + 12,
                                               1 + 3 + 5 + 11 + 13 + 15, 4 + 14});
  CHECK(engine::reflection_pad2d(x, 0).values() == x.values());
}

TEST_CASE("crop2d takes a window and routes gradients only to it") {
  std::vector<float> ramp(24);
  for (int i = 0; i < 24; ++i) ramp[i] = static_cast<float>(i);
  Tensor x({2, 1, 3, 4}, ramp);
  Tensor y = engine::crop2d(x, 1, 2, 2, 2);
  CHECK(y.shape() == Shape{2, 1, 2, 2});
  CHECK(y.values() == std::vector<float>{6, 7, 10, 11, 18, 19, 22, 23});
  auto crop = [](const Tensor& t) { return engine::crop2d(t, 1, 2, 2, 2); };
  CHECK(grad_of(crop, x) ==
        std::vector<float>{0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0, 5, 6, 0, 0, 7, 8});
}

TEST_CASE("shortcut_subsample_pad keeps every second pixel and zero-pads the channels") {
  std::vector<float> ramp(18);
  for (int i = 0; i < 18; ++i) ramp[i] = static_cast<float>(i + 1);
  Tensor x({1, 2, 3, 3}, ramp);
  Tensor y = engine::shortcut_subsample_pad(x, 1);
  // Odd H and W: ceil(3 / 2) = 2 rows and columns, taken at 0 and 2.
  CHECK(y.shape() == Shape{1, 4, 2, 2});
  CHECK(y.values() == std::vector<float>{0, 0, 0, 0, 1, 3, 7, 9, 10, 12, 16, 18, 0, 0, 0, 0});
  auto shortcut = [](const Tensor& t) { return engine::shortcut_subsample_pad(t, 1); };
  CHECK(grad_of(shortcut, x) ==
        std::vector<float>{5, 0, 6, 0, 0, 0, 7, 0, 8, 9, 0, 10, 0, 0, 0, 11, 0, 12});
  CHECK(engine::shortcut_subsample_pad(Tensor({2, 3, 4, 6}), 0).shape() == Shape{2, 3, 2, 3});
}

TEST_CASE("resampling gradient checks") {
  for (size_t k = 0; k < kShapes.size(); ++k) {
    const Shape& s = kShapes[k];
    check_gradients([](auto& in) { return engine::upsample_nearest2x(in[0]); },
                    {random_input(s, 1 + k)});
    check_gradients([](auto& in) { return engine::reflection_pad2d(in[0], 2); },
                    {random_input(s, 11 + k)});
    check_gradients([](auto& in) { return engine::crop2d(in[0], 1, 0, 2, 3); },
                    {random_input(s, 21 + k)});
    check_gradients([](auto& in) { return engine::shortcut_subsample_pad(in[0], 2); },
                    {random_input(s, 31 + k)});
  }
}

TEST_CASE("resampling a large batch in threads agrees plane by plane") {
  engine::Rng rng(40);
  const int H = 65, W = 67;  // every op's output exceeds the threading threshold
  Tensor x = engine::randn({2, 40, H, W}, rng);
  using Op = std::function<Tensor(const Tensor&)>;
  for (Op op : {Op(engine::upsample_nearest2x),
                Op([](const Tensor& t) { return engine::reflection_pad2d(t, 3); }),
                Op([](const Tensor& t) { return engine::crop2d(t, 2, 5, 60, 50); }),
                Op([](const Tensor& t) { return engine::shortcut_subsample_pad(t, 0); })}) {
    Tensor all = op(x);
    int64_t plane = int64_t{all.size(2)} * all.size(3);
    for (int p : {0, 37, 79}) {
      std::vector<float> v(x.data() + p * int64_t{H} * W, x.data() + (p + 1) * int64_t{H} * W);
      Tensor one = op(Tensor({1, 1, H, W}, v));
      REQUIRE(one.numel() == plane);
      for (int64_t i = 0; i < plane; ++i) CHECK(all.data()[p * plane + i] == one.data()[i]);
    }
  }
}

TEST_CASE("resampling ops reject bad arguments") {
  Tensor x({1, 2, 3, 5});
  CHECK_THROWS_AS(engine::upsample_nearest2x(Tensor({2, 3, 3})), std::invalid_argument);
  CHECK_THROWS_AS(engine::reflection_pad2d(x, 3), std::invalid_argument);  // pad >= H
  CHECK_THROWS_AS(engine::reflection_pad2d(x, -1), std::invalid_argument);
  CHECK_NOTHROW(engine::reflection_pad2d(x, 2));
  CHECK_THROWS_AS(engine::crop2d(x, 2, 0, 2, 5), std::invalid_argument);  // past the bottom
  CHECK_THROWS_AS(engine::crop2d(x, 0, 1, 3, 5), std::invalid_argument);  // past the right
  CHECK_THROWS_AS(engine::crop2d(x, -1, 0, 2, 2), std::invalid_argument);
  CHECK_THROWS_AS(engine::crop2d(x, 0, 0, 0, 2), std::invalid_argument);
  CHECK_NOTHROW(engine::crop2d(x, 0, 0, 3, 5));
  CHECK_THROWS_AS(engine::shortcut_subsample_pad(x, -1), std::invalid_argument);
  CHECK_THROWS_AS(engine::shortcut_subsample_pad(Tensor({4, 4}), 1), std::invalid_argument);
}
