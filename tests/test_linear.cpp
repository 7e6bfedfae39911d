// linear and the sgemm wrapper under it: the wrapper against the naive reference for every
// transpose, alpha and beta; a hand-worked layer; finite-difference gradients; frozen weights;
// shape validation.
//
// linear is linear in each of x, w and bias, so it has no kinks and the central differences of
// check_gradients are exact up to float32 rounding: the default tolerances hold with a margin.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "engine/cpu/gemm.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/gradcheck.h"

using engine::Tensor;
using testing::check_gradients;
using testing::random_input;

namespace {

std::vector<float> random_values(int64_t n, engine::Rng& rng) {
  std::vector<float> v(n);
  for (float& e : v) e = rng.uniform(-1.0f, 1.0f);
  return v;
}

}  // namespace

TEST_CASE("gemm matches the naive reference for every transpose, alpha and beta") {
  engine::Rng rng(7);
  for (auto [M, N, K] : {std::array<int, 3>{5, 7, 3}, {37, 29, 53}, {1, 64, 9}, {70, 1, 130}})
    for (bool trans_a : {false, true})
      for (bool trans_b : {false, true})
        for (auto [alpha, beta] :
             {std::array<float, 2>{1.0f, 0.0f}, {0.5f, 1.0f}, {-2.0f, 0.25f}}) {
          std::vector<float> A = random_values(int64_t{M} * K, rng);
          std::vector<float> B = random_values(int64_t{K} * N, rng);
          std::vector<float> C = random_values(int64_t{M} * N, rng), C_ref = C;
          engine::gemm(trans_a, trans_b, M, N, K, alpha, A.data(), B.data(), beta, C.data());
          engine::gemm_reference(trans_a, trans_b, M, N, K, alpha, A.data(), B.data(), beta,
                                 C_ref.data());
          INFO(M << "x" << N << "x" << K << " trans " << trans_a << trans_b << " alpha " << alpha
                 << " beta " << beta);
          float worst = 0.0f;
          for (size_t i = 0; i < C.size(); ++i) worst = std::max(worst, std::abs(C[i] - C_ref[i]));
          // Dot products of up to 130 terms in [-2, 2]: float32 rounding stays below 1e-5.
          CHECK(worst < 1e-4f);
        }
}

TEST_CASE("gemm with beta 0 ignores what C held, and with K = 0 only scales C") {
  std::vector<float> A{1, 2, 3, 4}, B{5, 6, 7, 8};
  std::vector<float> C(4, std::numeric_limits<float>::quiet_NaN());
  engine::gemm(false, false, 2, 2, 2, 1.0f, A.data(), B.data(), 0.0f, C.data());
  CHECK(C == std::vector<float>{19, 22, 43, 50});
  std::vector<float> D{1, 2, 3, 4};
  engine::gemm(false, false, 2, 2, 0, 1.0f, A.data(), B.data(), 0.5f, D.data());
  CHECK(D == std::vector<float>{0.5f, 1, 1.5f, 2});
}

TEST_CASE("linear computes x w^T + bias") {
  Tensor x({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor w({2, 3}, {1, 0, -1, 0.5f, 0.5f, 0.5f});
  Tensor bias({2}, {10, 20});
  Tensor y = engine::linear(x, w, bias);
  CHECK(y.shape() == engine::Shape{2, 2});
  CHECK(y.values() == std::vector<float>{8, 23, 8, 27.5f});
  CHECK(engine::linear(x, w, Tensor()).values() == std::vector<float>{-2, 3, -2, 7.5f});
}

TEST_CASE("linear gradients w.r.t. x, w and bias") {
  auto fc = [](auto& in) { return engine::linear(in[0], in[1], in[2]); };
  check_gradients(fc, {random_input({3, 5}, 1), random_input({4, 5}, 2), random_input({4}, 3)});
  check_gradients(fc, {random_input({1, 7}, 4), random_input({3, 7}, 5), random_input({3}, 6)});
  auto fc_no_bias = [](auto& in) { return engine::linear(in[0], in[1], Tensor()); };
  check_gradients(fc_no_bias, {random_input({5, 2}, 7), random_input({9, 2}, 8)});
}

TEST_CASE("linear with a frozen weight sends the gradient to the input only") {
  Tensor x = random_input({3, 5}, 10);
  Tensor w = random_input({4, 5}, 11).requires_grad_(false);
  Tensor bias = random_input({4}, 12).requires_grad_(false);
  check_gradients([](auto& in) { return engine::linear(in[0], in[1], in[2]); }, {x, w, bias});
  x.zero_grad();
  engine::sum_all(engine::linear(x, w, bias)).backward();
  CHECK_FALSE(w.has_grad());
  CHECK_FALSE(bias.has_grad());
  // d sum(x w^T) / dx[n, i] = sum_j w[j, i], the same for every row n.
  for (int i = 0; i < 5; ++i) {
    float column = 0.0f;
    for (int j = 0; j < 4; ++j) column += w.data()[j * 5 + i];
    for (int n = 0; n < 3; ++n) CHECK(x.grad()[n * 5 + i] == doctest::Approx(column));
  }
}

TEST_CASE("linear rejects shapes that do not fit together") {
  Tensor x({3, 5}), w({4, 5});
  CHECK_THROWS_AS(engine::linear(Tensor({3, 5, 1}), w, Tensor()), std::invalid_argument);
  CHECK_THROWS_AS(engine::linear(x, Tensor({20}), Tensor()), std::invalid_argument);
  CHECK_THROWS_AS(engine::linear(x, Tensor({4, 6}), Tensor()), std::invalid_argument);
  CHECK_THROWS_AS(engine::linear(x, w, Tensor({5})), std::invalid_argument);
  CHECK_THROWS_AS(engine::linear(x, w, Tensor({1, 4})), std::invalid_argument);
  CHECK_THROWS_AS(engine::linear(x, Tensor(), Tensor()), std::invalid_argument);
  CHECK_THROWS_WITH_AS(engine::linear(x, Tensor({4, 6}), Tensor()), doctest::Contains("(4, 6)"),
                       std::invalid_argument);
}
