// Every op of engine/ops.h and both optimizers, forward and backward, on the CPU and on CUDA from
// the same inputs, odd sizes included (tests/gpu_parity.h). Without a usable GPU every case says
// why once and passes. Tolerances are relative to the result's scale:
//   - exact (0) for copies and index maps: both backends move the same floats;
//   - 1e-5 for elementwise ops: the arithmetic is the same code (engine/elementwise.h), but the
//     GPU's expf, tanhf and powf are a few ulp from the host's, and fused multiply-adds differ;
//   - 1e-4 for reductions, convolutions, linear layers and batch norm: the GPU sums in another
//     order (trees instead of loops); for up to 10^5 terms of mixed sign that moves a float32
//     result by well under 1e-4 of its scale. The gradient of a broadcast input is such a sum
//     too (over the dimensions it was stretched along), so binary ops on unequal shapes get it.
#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops/broadcast.h"
#include "engine/optim.h"
#include "tests/gpu_parity.h"

#if GENIE_CUDA
#include "engine/cuda/runtime.h"
#endif

using engine::Shape;
using engine::Tensor;
using testing::check_parity;
using testing::random_input;

namespace {

constexpr double kExact = 0.0, kElementwise = 1e-5, kSummed = 1e-4;

// The one-input ops, each on an odd-sized tensor whose values suit the op's domain.
struct UnaryCase {
  const char* name;
  Tensor (*op)(const Tensor&);
  float lo, hi;
};

const std::vector<UnaryCase> kUnaryCases = {
    {"relu", engine::relu, -2, 2},
    {"leaky_relu", [](const Tensor& x) { return engine::leaky_relu(x, 0.2f); }, -2, 2},
    {"tanh", engine::tanh, -3, 3},
    {"sigmoid", engine::sigmoid, -8, 8},
    {"square", engine::square, -2, 2},
    {"sqrt", engine::sqrt, 0.1f, 4},
    {"abs", engine::abs, -2, 2},
    {"pow", [](const Tensor& x) { return engine::pow(x, 2.5f); }, 0.1f, 2},
    {"clamp", [](const Tensor& x) { return engine::clamp(x, -0.7f, 0.9f); }, -2, 2},
    {"round_ste", engine::round_ste, -5, 5},
    {"floor", engine::floor, -5, 5},
    {"heaviside", engine::heaviside, -2, 2},
    {"add_scalar", [](const Tensor& x) { return engine::add_scalar(x, 0.3f); }, -2, 2},
    {"mul_scalar", [](const Tensor& x) { return engine::mul_scalar(x, -1.7f); }, -2, 2},
};

// Shapes of (a, b) for the broadcasting binary ops: the same shape, a scalar, per channel, per
// image, and both sides broadcast.
const std::vector<std::pair<Shape, Shape>> kBroadcastShapes = {
    {{3, 7, 5, 5}, {3, 7, 5, 5}}, {{3, 7, 5, 5}, {1}},          {{3, 7, 5, 5}, {1, 7, 1, 1}},
    {{3, 7, 5, 5}, {3, 1, 1, 1}}, {{3, 1, 5, 1}, {1, 7, 1, 5}}, {{1}, {13}},
};

}  // namespace

TEST_CASE("gpu ops: unary and scalar ops match the CPU") {
  if (testing::skip_without_gpu()) return;
  uint64_t seed = 1;
  for (const UnaryCase& c : kUnaryCases)
    check_parity(
        c.name, {random_input({3, 13, 7}, seed++, c.lo, c.hi)},
        [&](const std::vector<Tensor>& in) { return c.op(in[0]); }, kElementwise);
}

TEST_CASE("gpu ops: unary ops at their kinks, bounds and rounding ties match the CPU") {
  if (testing::skip_without_gpu()) return;
  // Where the two backends could disagree on a rule rather than on rounding: round half to
  // even, the gradient of clamp at its bounds, of abs and relu at 0, heaviside(0) = 1.
  Tensor x({13},
           {-2.5f, -1.5f, -0.5f, 0.0f, 0.5f, 1.5f, 2.5f, -0.7f, 0.9f, 1.0f, -1.0f, 3.0f, -0.0f});
  x.requires_grad_();
  for (const UnaryCase& c : kUnaryCases) {
    if (c.lo > 0) continue;  // sqrt and pow: 0 and negatives lie outside their domain
    check_parity(
        std::string(c.name) + " at edge values", {x},
        [&](const std::vector<Tensor>& in) { return c.op(in[0]); }, kElementwise);
  }
}

TEST_CASE("gpu ops: broadcasting binary ops and where match the CPU") {
  if (testing::skip_without_gpu()) return;
  using Binary = Tensor (*)(const Tensor&, const Tensor&);
  const std::vector<std::pair<const char*, Binary>> ops = {
      {"add", engine::add}, {"sub", engine::sub}, {"mul", engine::mul}, {"div", engine::div}};
  uint64_t seed = 100;
  for (const auto& [a, b] : kBroadcastShapes)
    for (const auto& [name, op] : ops) {
      // Divisors away from 0, so that the quotient's scale stays bounded.
      Tensor x = random_input(a, seed++), y = random_input(b, seed++, 0.5f, 2.0f);
      bool broadcast = a != b;
      check_parity(
          std::string(name) + " " + engine::shape_str(a) + " " + engine::shape_str(b), {x, y},
          [op = op](const std::vector<Tensor>& in) { return op(in[0], in[1]); },
          broadcast ? kSummed : kElementwise);
      engine::Rng rng(seed++);
      Tensor mask = engine::bernoulli(engine::broadcast_shape(a, b), 0.5f, rng);
      check_parity(
          "where", {mask, x, y},
          [](const std::vector<Tensor>& in) { return engine::where(in[0], in[1], in[2]); },
          broadcast ? kSummed : kExact);
    }
}

TEST_CASE("gpu ops: the fake quantizer and QDrop's random choice match the CPU") {
  if (testing::skip_without_gpu()) return;
  Tensor x = random_input({4, 8, 9, 9}, 150), y = random_input({4, 8, 9, 9}, 151);
  Tensor step = random_input({1}, 152, 0.1f, 0.3f);
  for (const auto& [qn, qp] : {std::pair{-4.0f, 3.0f}, std::pair{0.0f, 15.0f}})
    check_parity(
        "fake_quantize", {x, step},
        [qn = qn, qp = qp](const std::vector<Tensor>& in) {
          return engine::fake_quantize(in[0], in[1], qn, qp);
        },
        kSummed);
  check_parity(
      "fake_quantize with QDrop", {x, step},
      [](const std::vector<Tensor>& in) {
        engine::Rng rng(154);  // the same draws on both devices
        return engine::fake_quantize(in[0], in[1], 0.0f, 15.0f, 0.5f, rng);
      },
      kSummed);
  check_parity(
      "random_where", {x, y},
      [](const std::vector<Tensor>& in) {
        engine::Rng rng(153);  // the same draws on both devices
        return engine::random_where(0.5f, rng, in[0], in[1]);
      },
      kExact);
}

TEST_CASE("gpu ops: reductions match the CPU") {
  if (testing::skip_without_gpu()) return;
  Tensor x = random_input({5, 7, 9, 11}, 200);
  const std::vector<std::vector<int>> axes = {{0}, {1}, {0, 2, 3}, {2, 3}, {-1}, {0, 1, 2, 3}};
  for (const std::vector<int>& a : axes)
    for (bool keep : {false, true}) {
      auto f = [&](auto op) {
        return [=](const std::vector<Tensor>& in) { return op(in[0], a, keep); };
      };
      check_parity("sum", {x}, f(engine::sum), kSummed);
      check_parity("mean", {x}, f(engine::mean), kSummed);
      check_parity("std_unbiased", {x}, f(engine::std_unbiased), kSummed);
    }
  check_parity(
      "sum_all", {x}, [](const auto& in) { return engine::sum_all(in[0]); }, kSummed);
  check_parity(
      "mean_all", {x}, [](const auto& in) { return engine::mean_all(in[0]); }, kSummed);
}

TEST_CASE("gpu ops: shape and row ops match the CPU exactly") {
  if (testing::skip_without_gpu()) return;
  Tensor x = random_input({9, 3, 5}, 300), y = random_input({4, 3, 5}, 301);
  check_parity(
      "reshape", {x},
      [](const auto& in) {
        return engine::reshape(in[0], {27, -1});
      },
      kExact);
  check_parity(
      "flatten", {x}, [](const auto& in) { return engine::flatten(in[0]); }, kExact);
  check_parity(
      "slice_rows", {x}, [](const auto& in) { return engine::slice_rows(in[0], 2, 5); }, kExact);
  // Repeated rows: their gradients add up in the scatter.
  check_parity(
      "gather_rows", {x},
      [](const auto& in) {
        return engine::gather_rows(in[0], {8, 0, 3, 3, 7});
      },
      kExact);
  check_parity(
      "concat_rows", {x, y},
      [](const auto& in) {
        return engine::concat_rows({in[0], in[1]});
      },
      kExact);
}

TEST_CASE("gpu ops: convolutions and linear layers match the CPU") {
  if (testing::skip_without_gpu()) return;
  struct ConvCase {
    Shape x, w;
    int stride, padding;
    bool bias;
  };
  const std::vector<ConvCase> cases = {
      {{2, 3, 7, 7}, {5, 3, 3, 3}, 1, 1, true},     {{3, 4, 9, 11}, {6, 4, 3, 3}, 2, 1, false},
      {{1, 1, 13, 13}, {3, 1, 5, 5}, 2, 2, true},   {{4, 6, 8, 8}, {7, 6, 1, 1}, 2, 0, false},
      {{2, 16, 33, 33}, {8, 16, 3, 3}, 1, 1, true},
  };
  uint64_t seed = 400;
  for (const ConvCase& c : cases) {
    Tensor x = random_input(c.x, seed++), w = random_input(c.w, seed++, -0.5f, 0.5f);
    Tensor b = c.bias ? random_input({c.w[0]}, seed++) : Tensor();
    check_parity(
        "conv2d " + engine::shape_str(c.x) + " " + engine::shape_str(c.w), {x, w, b},
        [&](const auto& in) { return engine::conv2d(in[0], in[1], in[2], c.stride, c.padding); },
        kSummed);
  }
  Tensor x = random_input({13, 37}, seed++), w = random_input({11, 37}, seed++, -0.5f, 0.5f);
  Tensor b = random_input({11}, seed++);
  for (const Tensor& bias : {b, Tensor()})
    check_parity(
        bias.defined() ? "linear" : "linear without bias", {x, w, bias},
        [](const auto& in) { return engine::linear(in[0], in[1], in[2]); }, kSummed);
}

TEST_CASE("gpu ops: batch norm, in training and in evaluation, matches the CPU") {
  if (testing::skip_without_gpu()) return;
  for (bool training : {true, false})
    for (const Shape& shape : {Shape{6, 5, 7, 7}, Shape{9, 13}}) {
      int C = shape[1];
      Tensor x = random_input(shape, 500), gamma = random_input({C}, 501, 0.5f, 1.5f);
      Tensor beta = random_input({C}, 502), mean = random_input({C}, 503, -0.3f, 0.3f);
      Tensor var = random_input({C}, 504, 0.5f, 2.0f);
      mean.requires_grad_(false);
      var.requires_grad_(false);
      // The running statistics are inputs too, so that their update is compared: they are
      // returned beside the output through a concatenation of flattened tensors.
      check_parity(
          std::string("batch_norm ") + (training ? "train " : "eval ") + engine::shape_str(shape),
          {x, gamma, beta, mean, var},
          [training](const auto& in) {
            engine::BatchNormState state{in[3].clone(), in[4].clone()};
            Tensor out = engine::batch_norm(in[0], in[1], in[2], state, training);
            return engine::concat_rows(
                {engine::reshape(out, {-1}), state.running_mean, state.running_var});
          },
          kSummed);
    }
}

TEST_CASE("gpu ops: pooling and resampling match the CPU") {
  if (testing::skip_without_gpu()) return;
  Tensor x = random_input({3, 5, 9, 11}, 600);
  const std::vector<std::pair<const char*, testing::TensorFunction>> ops = {
      {"max_pool2d", [](const auto& in) { return engine::max_pool2d(in[0], 3, 2, 1); }},
      {"avg_pool2d", [](const auto& in) { return engine::avg_pool2d(in[0], 3, 2, 1); }},
      {"global_avg_pool", [](const auto& in) { return engine::global_avg_pool(in[0]); }},
      {"upsample_nearest2x", [](const auto& in) { return engine::upsample_nearest2x(in[0]); }},
      {"reflection_pad2d", [](const auto& in) { return engine::reflection_pad2d(in[0], 2); }},
      {"crop2d", [](const auto& in) { return engine::crop2d(in[0], 1, 2, 6, 7); }},
      {"shortcut_subsample_pad",
       [](const auto& in) { return engine::shortcut_subsample_pad(in[0], 3); }},
  };
  // Sums of a few window values, or copies: well inside the summed tolerance.
  for (const auto& [name, op] : ops) check_parity(name, {x}, op, kSummed);
  // Tied maxima, as after a ReLU: both backends must route the gradient to the first of them.
  std::vector<float> levels(x.numel());
  engine::Rng rng(601);
  for (float& v : levels) v = static_cast<float>(rng.integer(3));
  Tensor tied(x.shape(), levels);
  tied.requires_grad_();
  check_parity("max_pool2d with ties", {tied}, ops[0].second, kSummed);
}

TEST_CASE("gpu ops: softmax cross-entropy matches the CPU") {
  if (testing::skip_without_gpu()) return;
  const std::vector<int> labels = {0, 9, 3, 3, 7, 1, 8};
  Tensor logits = random_input({7, 10}, 700, -4.0f, 4.0f);
  check_parity(
      "softmax_cross_entropy", {logits},
      [&](const auto& in) { return engine::softmax_cross_entropy(in[0], labels); }, kSummed);
}

TEST_CASE("gpu ops: Adam and SGD steps match the CPU") {
  if (testing::skip_without_gpu()) return;
  // Five steps of each optimizer on sum(p^2 * c): the updates are elementwise, the same
  // arithmetic on both backends.
  auto trajectory = [](engine::Device device, int kind) {
    Tensor p = random_input({3, 17}, 800).clone().to(device).requires_grad_();
    Tensor c = random_input({3, 17}, 801).clone().to(device);
    std::unique_ptr<engine::Optimizer> opt;
    if (kind == 0) opt = std::make_unique<engine::Adam>(std::vector<Tensor>{p}, 0.01f);
    if (kind == 1) opt = std::make_unique<engine::Sgd>(std::vector<Tensor>{p}, 0.1f);
    if (kind == 2)
      opt = std::make_unique<engine::Sgd>(std::vector<Tensor>{p}, 0.1f,
                                          engine::SgdOptions{0.9, 5e-4});
    for (int step = 0; step < 5; ++step) {
      opt->zero_grad();
      engine::sum_all(engine::mul(engine::square(p), c)).backward();
      opt->step();
    }
    return p.values();
  };
  for (int kind : {0, 1, 2}) {
    INFO("optimizer " << kind);
    CHECK(testing::relative_difference(trajectory(engine::Device::CPU, kind),
                                       trajectory(engine::Device::CUDA, kind)) <= kElementwise);
  }
}

TEST_CASE("gpu ops: to() round-trips values exactly") {
  if (testing::skip_without_gpu()) return;
  Tensor x = random_input({5, 3, 7}, 900);
  Tensor there = x.to(engine::Device::CUDA);
  CHECK(there.device() == engine::Device::CUDA);
  CHECK(there.to(engine::Device::CPU).values() == x.values());
  CHECK(engine::sum_all(there).item() == doctest::Approx(engine::sum_all(x).item()));
}

TEST_CASE("gpu ops: an op on tensors of two devices names both") {
  if (testing::skip_without_gpu()) return;
  Tensor a = random_input({3}, 1000), b = random_input({3}, 1001).to(engine::Device::CUDA);
  CHECK_THROWS_WITH_AS(engine::add(a, b), doctest::Contains("cpu and cuda"), std::invalid_argument);
}

#if GENIE_CUDA
TEST_CASE("gpu ops: the caching allocator serves a training loop without growing") {
  if (testing::skip_without_gpu()) return;
  Tensor x = random_input({16, 8, 17, 17}, 1100).clone().to(engine::Device::CUDA);
  Tensor w = random_input({8, 8, 3, 3}, 1101).clone().to(engine::Device::CUDA).requires_grad_();
  auto step = [&] {
    w.zero_grad();
    engine::sum_all(engine::relu(engine::conv2d(x, w, Tensor(), 1, 1))).backward();
  };
  step();
  size_t after_first = engine::cuda::peak_bytes();
  for (int i = 0; i < 10; ++i) step();
  CHECK(engine::cuda::peak_bytes() == after_first);
}
#endif

TEST_CASE("--device cuda is refused with the reason where CUDA cannot be used") {
  if (engine::cuda_available()) return;  // the other side of skip_without_gpu
  CHECK_THROWS_WITH_AS(engine::require_device(engine::Device::CUDA),
                       doctest::Contains(engine::cuda_unavailable_reason().c_str()),
                       std::runtime_error);
  CHECK_THROWS_AS(Tensor({2}, 0.0f, engine::Device::CUDA), std::runtime_error);
}
