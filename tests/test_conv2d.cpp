// conv2d: a hand-worked example, the CPU kernel (oneDNN) against a direct-loop reference on
// random shapes, chunked backward against per-image backward, gradients that add into existing
// ones, finite-difference gradients (including a frozen weight), and shape validation.
//
// Convolution is linear in each of x, w and bias, so it has no kinks and the central
// differences of check_gradients are exact up to float32 rounding: the default tolerances hold
// with a wide margin.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/kernel_types.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/gradcheck.h"

using engine::Shape;
using engine::Tensor;
using testing::check_gradients;
using testing::random_input;

namespace {

struct ConvCase {
  Shape x, w;
  int stride, padding;
};

// The convolution by its definition, summed in double.
Tensor reference_conv(const Tensor& x, const Tensor& w, const Tensor& bias, int stride,
                      int padding) {
  const engine::ConvGeometry g = engine::conv_geometry(x.shape(), w.shape(), stride, padding);
  const std::vector<float> xs = x.values(), ws = w.values();
  const std::vector<float> bs = bias.defined() ? bias.values() : std::vector<float>(g.K, 0.0f);
  std::vector<float> out(static_cast<size_t>(g.N) * g.K * g.P * g.Q);
  for (int n = 0; n < g.N; ++n)
    for (int k = 0; k < g.K; ++k)
      for (int p = 0; p < g.P; ++p)
        for (int q = 0; q < g.Q; ++q) {
          double acc = bs[k];
          for (int c = 0; c < g.C; ++c)
            for (int r = 0; r < g.R; ++r)
              for (int s = 0; s < g.S; ++s) {
                int h = p * g.stride - g.padding + r, v = q * g.stride - g.padding + s;
                if (h < 0 || h >= g.H || v < 0 || v >= g.W) continue;
                acc += static_cast<double>(xs[((n * g.C + c) * g.H + h) * g.W + v]) *
                       ws[((k * g.C + c) * g.R + r) * g.S + s];
              }
          out[((n * g.K + k) * g.P + p) * g.Q + q] = static_cast<float>(acc);
        }
  return Tensor({g.N, g.K, g.P, g.Q}, out);
}

float max_abs(const std::vector<float>& v) {
  float m = 0.0f;
  for (float e : v) m = std::max(m, std::abs(e));
  return m;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  float m = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST_CASE("conv2d computes a hand-worked 3x3 example with stride, padding and bias") {
  Tensor x({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w({1, 1, 2, 2}, {1, 1, 1, 1});
  Tensor bias({1}, {0.5f});
  CHECK(engine::conv2d(x, w, bias, 1, 0).values() ==
        std::vector<float>{12.5f, 16.5f, 24.5f, 28.5f});
  // Padding 1, stride 2: the 2x2 windows at (-1,-1), (-1,1), (1,-1), (1,1) of the padded image.
  Tensor y = engine::conv2d(x, w, Tensor(), 2, 1);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  CHECK(y.values() == std::vector<float>{1, 5, 11, 28});
}

TEST_CASE("conv2d matches the direct reference on random shapes") {
  std::vector<ConvCase> cases = {
      {{1, 3, 7, 7}, {4, 3, 3, 3}, 1, 1},  {{3, 3, 13, 13}, {5, 3, 3, 3}, 2, 1},
      {{3, 2, 13, 7}, {4, 2, 7, 7}, 2, 3}, {{1, 5, 7, 13}, {6, 5, 1, 1}, 1, 0},
      {{3, 4, 7, 7}, {2, 4, 1, 1}, 2, 0},  {{1, 3, 13, 13}, {8, 3, 7, 7}, 1, 3},
      {{3, 2, 9, 11}, {3, 2, 3, 1}, 1, 0}, {{1, 2, 6, 9}, {3, 2, 1, 5}, 2, 3},
      {{3, 3, 7, 13}, {4, 3, 3, 3}, 2, 0}, {{1, 1, 1, 1}, {2, 1, 1, 1}, 1, 3},
      {{3, 2, 2, 2}, {3, 2, 3, 3}, 4, 3},
  };
  uint64_t seed = 100;
  for (const ConvCase& c : cases) {
    Tensor x = random_input(c.x, ++seed), w = random_input(c.w, ++seed);
    Tensor bias = random_input({c.w[0]}, ++seed);
    for (const Tensor& b : {bias, Tensor()}) {
      std::vector<float> ref = reference_conv(x, w, b, c.stride, c.padding).values();
      std::vector<float> fast = engine::conv2d(x, w, b, c.stride, c.padding).values();
      INFO("x " << engine::shape_str(c.x) << " w " << engine::shape_str(c.w) << " stride "
                << c.stride << " padding " << c.padding);
      // Both sum at most 5*7*7 products of values in [-1, 1]; float32 rounding in sgemm leaves
      // about 1e-6 relative, so 1e-4 of the largest output only fails for a wrong result.
      CHECK(max_abs_diff(fast, ref) <= 1e-4f * max_abs(ref));
    }
  }
}

TEST_CASE("conv2d over several chunks of images equals the same conv image by image") {
  // 16 channels of 128x128: 0.26M floats per image, so 15 images need two 2M-float chunks.
  const int N = 15, K = 4;
  const Shape image{1, 16, 128, 128};
  Tensor x = random_input({N, 16, 128, 128}, 1), w = random_input({K, 16, 3, 3}, 2);
  Tensor bias = random_input({K}, 3);
  Tensor out = engine::conv2d(x, w, bias, 1, 1);
  std::vector<float> ref = reference_conv(x, w, bias, 1, 1).values();
  // As above, sums of 144 products: 1e-4 of the largest output is far above rounding.
  CHECK(max_abs_diff(out.values(), ref) <= 1e-4f * max_abs(ref));
  CHECK(engine::conv2d(x, w, bias, 1, 1).values() == out.values());  // deterministic

  Tensor out_weights = random_input(out.shape(), 4);
  engine::sum_all(engine::mul(out, out_weights)).backward();
  std::vector<float> dx_batch = x.grad_values(), dw_batch = w.grad_values();
  std::vector<float> dbias_batch = bias.grad_values();
  w.zero_grad();
  bias.zero_grad();
  std::vector<float> dx_images;
  const int64_t in_size = engine::numel_of(image), out_size = out.numel() / N;
  for (int n = 0; n < N; ++n) {
    auto slice = [n](const Tensor& t, int64_t size) {
      const std::vector<float> all = t.values();
      return std::vector<float>(all.begin() + n * size, all.begin() + (n + 1) * size);
    };
    Tensor xn(image, slice(x, in_size));
    xn.requires_grad_();
    Tensor on = engine::conv2d(xn, w, bias, 1, 1);
    engine::sum_all(engine::mul(on, Tensor(on.shape(), slice(out_weights, out_size)))).backward();
    const std::vector<float> dx = xn.grad_values();
    dx_images.insert(dx_images.end(), dx.begin(), dx.end());
  }
  // dx sums at most 4*9 products per element; dw and dbias sum over 15*128*128 positions, where
  // float32 rounding stays near 1e-6 relative: 1e-4 of the largest value is a real mismatch.
  CHECK(max_abs_diff(dx_batch, dx_images) <= 1e-4f * max_abs(dx_images));
  CHECK(max_abs_diff(dw_batch, w.grad_values()) <= 1e-4f * max_abs(dw_batch));
  CHECK(max_abs_diff(dbias_batch, bias.grad_values()) <= 1e-4f * max_abs(dbias_batch));
}

TEST_CASE("conv2d's backward adds into the gradients that x and w already hold") {
  Tensor x = random_input({3, 16, 9, 9}, 5), w = random_input({16, 16, 3, 3}, 6);
  auto backward = [&] { engine::sum_all(engine::conv2d(x, w, Tensor(), 2, 1)).backward(); };
  backward();
  const std::vector<float> dx = x.grad_values(), dw = w.grad_values();
  backward();
  const std::vector<float> dx2 = x.grad_values(), dw2 = w.grad_values();
  // The second pass computes the same bits and adds them: a + a is exact.
  for (size_t i = 0; i < dx.size(); ++i) REQUIRE(dx2[i] == 2 * dx[i]);
  for (size_t i = 0; i < dw.size(); ++i) REQUIRE(dw2[i] == 2 * dw[i]);
}

TEST_CASE("conv2d gradients w.r.t. x, w and bias") {
  std::vector<ConvCase> cases = {
      {{2, 3, 7, 5}, {4, 3, 3, 3}, 2, 1},  // stride 2 over odd sizes
      {{1, 2, 6, 9}, {3, 2, 1, 5}, 1, 2},  // batch 1, non-square kernel
      {{2, 1, 6, 7}, {2, 1, 7, 7}, 2, 3},  // 7x7 stem-like kernel, padding 3
      {{3, 4, 5, 3}, {2, 4, 1, 1}, 1, 0},  // 1x1 projection
  };
  uint64_t seed = 200;
  for (const ConvCase& c : cases) {
    INFO("x " << engine::shape_str(c.x) << " w " << engine::shape_str(c.w) << " stride " << c.stride
              << " padding " << c.padding);
    auto conv = [c](auto& in) { return engine::conv2d(in[0], in[1], in[2], c.stride, c.padding); };
    check_gradients(conv, {random_input(c.x, ++seed), random_input(c.w, ++seed),
                           random_input({c.w[0]}, ++seed)});
    auto conv_no_bias = [c](auto& in) {
      return engine::conv2d(in[0], in[1], Tensor(), c.stride, c.padding);
    };
    check_gradients(conv_no_bias, {random_input(c.x, ++seed), random_input(c.w, ++seed)});
  }
}

TEST_CASE("conv2d with a frozen weight sends the gradient to the input only") {
  Tensor x = random_input({2, 3, 7, 5}, 300);
  Tensor w = random_input({4, 3, 3, 3}, 301).requires_grad_(false);
  Tensor bias = random_input({4}, 302).requires_grad_(false);
  auto conv = [](auto& in) { return engine::conv2d(in[0], in[1], in[2], 2, 1); };
  check_gradients(conv, {x, w, bias});

  x.zero_grad();
  engine::sum_all(engine::conv2d(x, w, bias, 2, 1)).backward();
  CHECK_FALSE(w.has_grad());
  CHECK_FALSE(bias.has_grad());
  std::vector<float> dx_frozen = x.grad_values();
  // The same input gradient as when the weight is trained too: skipping dw changes nothing.
  x.zero_grad();
  w.requires_grad_();
  engine::sum_all(engine::conv2d(x, w, bias, 2, 1)).backward();
  CHECK(w.has_grad());
  CHECK(dx_frozen == x.grad_values());
  CHECK(max_abs(dx_frozen) > 0.0f);

  Tensor frozen_x = x.detach();
  w.requires_grad_(false);
  CHECK_FALSE(engine::conv2d(frozen_x, w, bias, 2, 1).requires_grad());
}

TEST_CASE("conv2d rejects shapes that do not fit together") {
  Tensor x({2, 3, 7, 7}), w({4, 3, 3, 3});
  CHECK_THROWS_AS(engine::conv2d(Tensor({3, 7, 7}), w, Tensor(), 1, 0), std::invalid_argument);
  CHECK_THROWS_AS(engine::conv2d(x, Tensor({4, 3, 3}), Tensor(), 1, 0), std::invalid_argument);
  CHECK_THROWS_AS(engine::conv2d(x, Tensor({4, 2, 3, 3}), Tensor(), 1, 0), std::invalid_argument);
  CHECK_THROWS_AS(engine::conv2d(x, w, Tensor({3}), 1, 0), std::invalid_argument);
  CHECK_THROWS_AS(engine::conv2d(x, w, Tensor({4, 1}), 1, 0), std::invalid_argument);
  CHECK_THROWS_AS(engine::conv2d(x, Tensor({4, 3, 9, 3}), Tensor(), 1, 0), std::invalid_argument);
  CHECK_THROWS_AS(engine::conv2d(x, w, Tensor(), 0, 0), std::invalid_argument);
  CHECK_THROWS_AS(engine::conv2d(x, w, Tensor(), 1, -1), std::invalid_argument);
  CHECK_THROWS_AS(engine::conv2d(Tensor(), w, Tensor(), 1, 0), std::invalid_argument);
  CHECK_THROWS_WITH_AS(engine::conv2d(x, Tensor({4, 2, 3, 3}), Tensor(), 1, 0),
                       doctest::Contains("(2, 3, 7, 7)"), std::invalid_argument);
  // A 9-row kernel fits once padding 1 makes the image 9 rows tall.
  CHECK(engine::conv2d(x, Tensor({4, 3, 9, 3}), Tensor(), 1, 1).shape() == Shape{2, 4, 1, 7});
}
