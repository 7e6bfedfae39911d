// GENIE-M's quantizers: the clip-ratio search against a brute-force reference, the weight
// quantizer (init equals round-to-nearest, soft weights equal the clamped floats, gradients,
// integer codes and their round trip), the activation quantizer (sign, range, straight-through
// and LSQ gradients, QDrop) and where QuantizedResNet puts its quantizers.
// Shapes: conv weights (K, C, R, S), linear weights (out, in), activations (N, C, H, W).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/tensor_file.h"
#include "engine/threads.h"
#include "genie/activation_quantizer.h"
#include "genie/clip_search.h"
#include "genie/quantized_resnet.h"
#include "genie/weight_quantizer.h"
#include "models/resnet.h"
#include "tests/edit_values.h"
#include "tests/gradcheck.h"
#include "tests/tiny_models.h"

using engine::Tensor;

namespace {

// ---- an independent reference of docs/METHOD.md's clip search ----

float ref_quantize(float x, float step, float zero_point, float levels) {
  float code = std::nearbyint(x / step) + zero_point;
  return (std::min(std::max(code, 0.0f), levels) - zero_point) * step;
}

double ref_score(const std::vector<float>& x, float step, float zero_point, float levels) {
  double s = 0.0;
  for (float v : x) s += std::pow(std::fabs(v - ref_quantize(v, step, zero_point, levels)), 2.4);
  return s / static_cast<double>(x.size());
}

struct RefClip {
  float step, zero_point;
  double score;
};

RefClip ref_search(const std::vector<float>& x, float lo, float hi, int bits) {
  const float levels = static_cast<float>((1 << bits) - 1);
  RefClip best{0.0f, 0.0f, 1e10};
  for (int percent = 100; percent >= 1; --percent) {
    float r = percent / 100.0f;
    float step = r * (hi - lo) / levels;
    float zero_point = std::nearbyint(-r * lo / step);
    double score = ref_score(x, step, zero_point, levels);
    if (score < best.score) best = {step, zero_point, score};
  }
  return best;
}

// The activation quantizer's step by the same search, scored on the grid its forward uses:
// codes [-2^(b-1), 2^(b-1) - 1] signed, [0, 2^b - 1] unsigned, no zero point.
float ref_activation_step(const std::vector<float>& x, bool is_signed, int bits) {
  float max_abs = 0.0f;
  for (float v : x) max_abs = std::max(max_abs, std::fabs(v));
  const float levels = static_cast<float>((1 << bits) - 1);
  const float qn = is_signed ? -std::ldexp(1.0f, bits - 1) : 0.0f, qp = qn + levels;
  float best_step = 0.0f;
  double best = 1e10;
  for (int percent = 100; percent >= 1; --percent) {
    float r = percent / 100.0f;
    float step = (is_signed ? 2.0f * max_abs : max_abs) * r / levels;
    double score = 0.0;
    for (float v : x) {
      float q = step * std::min(std::max(std::nearbyint(v / step), qn), qp);
      score += std::pow(std::fabs(v - q), 2.4);
    }
    score /= static_cast<double>(x.size());
    if (score < best) best = score, best_step = step;
  }
  return best_step;
}

std::vector<float> uniform_values(int n, float lo, float hi, uint64_t seed) {
  engine::Rng rng(seed);
  std::vector<float> v(n);
  for (float& a : v) a = rng.uniform(lo, hi);
  return v;
}

// Heavy-tailed values: most near zero, a few far out, so that clipping pays off.
std::vector<float> outlier_values(int n, float scale, uint64_t seed) {
  engine::Rng rng(seed);
  std::vector<float> v(n);
  for (float& a : v) a = scale * rng.normal();
  v[0] = 8.0f * scale;
  v[1] = -5.0f * scale;
  return v;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("genie_test_quantizers_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

float max_code(int bits) { return static_cast<float>((1 << bits) - 1); }

}  // namespace

// ---------------------------------------------------------------- clip search

TEST_CASE("clip search equals a brute-force search over the 100 clip ratios") {
  struct Case {
    const char* what;
    std::vector<float> values;
    bool one_sided;
  };
  std::vector<Case> cases = {
      {"asymmetric uniform", uniform_values(37, -0.3f, 1.7f, 1), false},
      {"asymmetric with outliers", outlier_values(53, 0.1f, 2), false},
      {"one-sided (post-ReLU)", uniform_values(41, 0.0f, 3.0f, 3), true},
      {"one-sided with an outlier", outlier_values(29, 0.2f, 4), true},
  };
  for (Case& c : cases) {
    if (c.one_sided)
      for (float& v : c.values) v = std::fabs(v);
    float lo = c.one_sided ? 0.0f : *std::min_element(c.values.begin(), c.values.end());
    float hi = *std::max_element(c.values.begin(), c.values.end());
    for (int bits : {2, 3, 4, 8}) {
      INFO(c.what << ", " << bits << " bits");
      RefClip ref = ref_search(c.values, lo, hi, bits);
      genie::ClipResult got = genie::search_clip(c.values.data(), c.values.size(), lo, hi, bits);
      // The step is computed as r*hi - r*lo there and r*(hi - lo) here: a few ulps apart.
      CHECK(got.step == doctest::Approx(ref.step).epsilon(1e-5));
      CHECK(got.zero_point == ref.zero_point);
      // Same ulps in the step move the score by far less than 1e-4 of itself.
      CHECK(ref_score(c.values, got.step, got.zero_point, max_code(bits)) ==
            doctest::Approx(ref.score).epsilon(1e-4));
    }
  }
}

TEST_CASE("clip search clips outliers at low bits and keeps the full range when it is exact") {
  // Four values on a 2-bit grid: the full range quantizes them exactly, so r = 1 wins.
  std::vector<float> grid{-0.5f, 0.0f, 0.5f, 1.0f};
  genie::ClipResult exact = genie::search_clip(grid.data(), 4, -0.5f, 1.0f, 2);
  CHECK(exact.step == doctest::Approx(0.5f));
  CHECK(exact.zero_point == 1.0f);
  // A lone outlier at 8 sigma: 3 bits over the full range waste most levels on it.
  std::vector<float> v = outlier_values(200, 1.0f, 5);
  float lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
  genie::ClipResult clipped = genie::search_clip(v.data(), v.size(), lo, hi, 3);
  CHECK(clipped.step < 0.8f * (hi - lo) / 7.0f);
}

TEST_CASE("clip search over a symmetric range puts the zero point at 2^(b-1) for every ratio") {
  // -r lo / s is exactly (2^b - 1) / 2 there; rounded half to even that is 2^(b-1), the grid
  // [-2^(b-1), 2^(b-1) - 1] of a signed activation quantizer, never the one shifted a code.
  engine::Rng rng(6);
  for (int bits : {2, 3, 4, 8})
    for (int trial = 0; trial < 200; ++trial) {
      float max_abs = rng.uniform(0.01f, 20.0f);
      std::vector<float> v = uniform_values(5, -max_abs, max_abs, trial);
      genie::ClipResult r = genie::search_clip(v.data(), 5, -max_abs, max_abs, bits);
      INFO(bits << " bits, max " << max_abs);
      REQUIRE(r.zero_point == std::ldexp(1.0f, bits - 1));
    }
}

TEST_CASE("quantize_to_nearest rounds half to even and clamps to the code range") {
  // step 1, zero point 2, 2 bits: codes 0..3 represent -2..1.
  CHECK(genie::quantize_to_nearest(0.5f, 1.0f, 2.0f, 2) == 0.0f);    // 0.5 -> 0 (even)
  CHECK(genie::quantize_to_nearest(-1.5f, 1.0f, 2.0f, 2) == -2.0f);  // -1.5 -> -2 (even)
  CHECK(genie::quantize_to_nearest(0.6f, 1.0f, 2.0f, 2) == 1.0f);
  CHECK(genie::quantize_to_nearest(5.0f, 1.0f, 2.0f, 2) == 1.0f);    // top code 3
  CHECK(genie::quantize_to_nearest(-9.0f, 1.0f, 2.0f, 2) == -2.0f);  // bottom code 0
}

// ---------------------------------------------------------------- weight quantizer

TEST_CASE("weight quantizer at init: hard weights are round-to-nearest, soft the clamped floats") {
  for (int bits : {2, 3, 4, 8}) {
    // A conv weight with one outlier per channel, so the clip search clips some values.
    engine::Rng rng(10 + bits);
    Tensor w = engine::randn({3, 2, 3, 3}, rng, 0.0f, 0.1f);
    for (int k = 0; k < 3; ++k) w.data()[k * 18 + k] = 0.9f * (k % 2 ? -1.0f : 1.0f);
    genie::WeightQuantizer q(w, bits);
    REQUIRE(q.step.shape() == engine::Shape{3, 1, 1, 1});
    REQUIRE(q.soft_bits.shape() == w.shape());
    Tensor hard = q.hard_weights(), soft = q.soft_weights();
    int ties = 0, clamped = 0;
    for (int k = 0; k < 3; ++k) {
      const float* wk = w.data() + k * 18;
      auto [lo, hi] = std::minmax_element(wk, wk + 18);
      genie::ClipResult r = genie::search_clip(wk, 18, *lo, *hi, bits);
      CHECK(q.step.data()[k] == r.step);
      CHECK(q.zero_point.data()[k] == r.zero_point);
      for (int i = 0; i < 18; ++i) {
        INFO(bits << " bits, channel " << k << " element " << i);
        float scaled = wk[i] / r.step;
        float frac = scaled - std::floor(scaled);
        // [V >= 0] rounds an exact .5 up where round-to-nearest rounds it to even.
        if (std::fabs(frac - 0.5f) < 1e-4f) {
          ++ties;
        } else {
          CHECK(hard.data()[k * 18 + i] ==
                genie::quantize_to_nearest(wk[i], r.step, r.zero_point, bits));
        }
        float code = std::min(std::max(scaled + r.zero_point, 0.0f), max_code(bits));
        clamped += code != scaled + r.zero_point;
        // h(V) inverts the sigmoid to about 1e-6 of a code; the codes reach 255 at 8 bits.
        float expected = r.step * (code - r.zero_point);
        CHECK(std::fabs(soft.data()[k * 18 + i] - expected) <= 1e-5f * r.step * (1 + code));
        if (code == scaled + r.zero_point)
          CHECK(std::fabs(soft.data()[k * 18 + i] - wk[i]) <= 1e-5f * r.step * (1 + code));
      }
    }
    CHECK(ties <= 1);
    if (bits <= 3) CHECK(clamped > 0);  // the outliers were clipped
  }
}

TEST_CASE("soft weights: finite-difference gradients w.r.t. the step and the soft bits") {
  for (engine::Shape shape :
       {engine::Shape{4, 3, 3, 3}, engine::Shape{5, 7}, engine::Shape{1, 6}}) {
    INFO(engine::shape_str(shape));
    engine::Rng rng(20);
    Tensor w = engine::randn(shape, rng, 0.0f, 0.2f);
    genie::WeightQuantizer q(w, 3);
    // h(V) is clamped where V = +-log(11) = +-2.40; V in [-2, 2] stays clear of those kinks.
    testing::edit_values(q.soft_bits, [&](float) { return rng.uniform(-2.0f, 2.0f); });
    testing::check_gradients(
        [&q](auto& in) {
          q.step = in[0];
          q.soft_bits = in[1];
          return q.soft_weights();
        },
        {q.step, q.soft_bits});
  }
}

TEST_CASE("weight codes lie in [0, 2^b - 1], round-trip through a file, and rebuild the weights") {
  for (int bits : {2, 4, 8}) {
    INFO(bits << " bits");
    engine::Rng rng(30 + bits);
    Tensor w = engine::randn({6, 5}, rng, 0.0f, 0.3f);
    genie::WeightQuantizer q(w, bits);
    // Trained soft bits can push any code up or down by one: random signs exercise the clamp.
    testing::edit_values(q.soft_bits, [&](float) { return rng.uniform(-3.0f, 3.0f); });
    testing::edit_values(q.step, [&](float v) { return v * rng.uniform(0.7f, 1.3f); });
    engine::CodeTensor codes = q.codes();
    CHECK(codes.bits == bits);
    CHECK(codes.shape == w.shape());
    bool saw_top = false;
    for (uint8_t c : codes.codes) {
      CHECK(c <= max_code(bits));
      saw_top |= c == max_code(bits);
    }
    CHECK(saw_top);
    // The codes are the clamped B + [V >= 0] + zp.
    for (int i = 0; i < 30; ++i) {
      float rounded =
          q.floor_codes.data()[i] + (q.soft_bits.data()[i] >= 0.0f) + q.zero_point.data()[i / 5];
      CHECK(codes.codes[i] == std::min(std::max(rounded, 0.0f), max_code(bits)));
    }

    engine::TensorFile file;
    file.codes.emplace_back("w", codes);
    std::string path = temp_path("codes.gw");
    engine::write_tensor_file(path, file);
    engine::TensorFile back = engine::read_tensor_file(path);
    std::filesystem::remove(path);
    const engine::CodeTensor* c = back.code("w");
    REQUIRE(c != nullptr);
    CHECK(c->bits == bits);
    CHECK(c->shape == codes.shape);
    CHECK(c->codes == codes.codes);

    genie::WeightQuantizer restored = genie::WeightQuantizer::from_codes(*c, q.step, q.zero_point);
    CHECK(restored.bits() == bits);
    CHECK(restored.hard_weights().values() == q.hard_weights().values());
    CHECK(restored.codes().codes == codes.codes);
  }
}

TEST_CASE("rounding loss sum(1 - |2h(V) - 1|^beta) by hand") {
  genie::WeightQuantizer q(Tensor({1, 4}, {0.1f, 0.2f, 0.3f, 0.4f}), 4);
  // h(0) = 0.5, h(10) = 1, h(-10) = 0 (both clamped), h(1) = 1.2 sigmoid(1) - 0.1.
  q.soft_bits = Tensor({1, 4}, {0.0f, 10.0f, -10.0f, 1.0f});
  double h1 = 1.2 / (1.0 + std::exp(-1.0)) - 0.1;
  for (float beta : {2.0f, 20.0f}) {
    double expected = 1.0 + 0.0 + 0.0 + (1.0 - std::pow(std::fabs(2.0 * h1 - 1.0), beta));
    CHECK(q.rounding_loss(beta).item() == doctest::Approx(expected).epsilon(1e-6));
  }
  Tensor h = q.rectified_sigmoid();
  CHECK(h.values() == std::vector<float>{0.5f, 1.0f, 0.0f, static_cast<float>(h1)});
}

TEST_CASE("weight quantizer refuses bits outside 1..8") {
  Tensor w({2, 2}, {0.1f, 0.2f, 0.3f, 0.4f});
  CHECK_THROWS_AS(genie::WeightQuantizer(w, 0), std::invalid_argument);
  CHECK_THROWS_AS(genie::WeightQuantizer(w, 9), std::invalid_argument);
}

// ---------------------------------------------------------------- activation quantizer

TEST_CASE("activation quantizer: sign, range and step from the batch it is initialised on") {
  engine::Rng rng(40);
  for (int bits : {2, 4, 8}) {
    INFO(bits << " bits");
    for (bool negative : {false, true}) {
      INFO((negative ? "signed" : "unsigned"));
      Tensor x = engine::rand_uniform({2, 3, 4, 5}, rng, 0.0f, 2.0f);
      if (negative) x.data()[17] = -0.7f;
      genie::ActivationQuantizer q(bits);
      CHECK_FALSE(q.initialized());
      CHECK_THROWS_AS(q.forward(x), std::logic_error);  // initialised explicitly, never silently
      CHECK(q.forward(x, 0.0f, rng).values() == x.values());  // float: no quantizer needed
      q.initialize(x);
      Tensor y = q.forward(x);
      REQUIRE(q.initialized());
      CHECK(q.is_signed() == negative);
      float max_abs = 0.0f;
      for (float v : x.values()) max_abs = std::max(max_abs, std::fabs(v));
      float s = q.step.item();
      CHECK(s == ref_activation_step(x.values(), negative, bits));
      float qn = negative ? -std::ldexp(1.0f, bits - 1) : 0.0f;
      float qp = negative ? std::ldexp(1.0f, bits - 1) - 1.0f : max_code(bits);
      for (int64_t i = 0; i < x.numel(); ++i) {
        float code = y.data()[i] / s;
        CHECK(std::fabs(code - std::nearbyint(code)) < 1e-4f);
        CHECK(code >= qn - 1e-4f);
        CHECK(code <= qp + 1e-4f);
        float expected = std::min(std::max(std::nearbyint(x.data()[i] / s), qn), qp);
        CHECK(code == doctest::Approx(expected));
      }
      // Values far outside land on the end codes.
      Tensor far({3}, {-100.0f, 100.0f, 0.0f});
      Tensor yf = q.forward(far);
      CHECK(q.step.item() == s);
      CHECK(yf.data()[0] == doctest::Approx(qn * s));
      CHECK(yf.data()[1] == doctest::Approx(qp * s));
      CHECK(yf.data()[2] == 0.0f);
    }
  }
}

TEST_CASE("signed activation step search scores the grid the forward pass uses") {
  // Post-add activations: mostly positive with a negative tail, where the asymmetric grid
  // [-2^(b-1), 2^(b-1) - 1] matters and a grid shifted by one code would score differently.
  engine::Rng rng(45);
  int mismatches = 0;
  for (int bits : {3, 4, 8}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> x(300);
      float scale = rng.uniform(0.1f, 10.0f);
      for (float& v : x) v = scale * (rng.normal() + 1.0f);
      genie::ActivationQuantizer q(bits);
      q.initialize(Tensor({300}, x));
      REQUIRE(q.is_signed());
      float expected = ref_activation_step(x, true, bits);
      INFO(bits << " bits, trial " << trial << ": step " << q.step.item() << " reference "
                << expected);
      CHECK(q.step.item() == expected);
      mismatches += q.step.item() != expected;
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("activation quantizer gradients: straight-through for x, LSQ for the step") {
  // Restored quantizer: signed, 3 bits, step 0.25: codes -4..3, values -1..0.75.
  genie::ActivationQuantizer q(3, true, 0.25f);
  engine::Rng rng(50);
  // Values away from rounding ties (x/s = k + 0.5) and from the clamp bounds.
  Tensor x({2, 5}, {-2.0f, -1.1f, -0.93f, -0.3f, 0.04f, 0.2f, 0.41f, 0.7f, 0.9f, 3.0f});
  x.requires_grad_();
  std::vector<float> r(10);
  for (float& v : r) v = rng.uniform(-1.0f, 1.0f);
  Tensor y = q.forward(x);
  engine::sum_all(engine::mul(y, Tensor(x.shape(), r))).backward();
  REQUIRE(x.has_grad());
  REQUIRE(q.step.has_grad());
  double dstep = 0.0;
  for (int i = 0; i < 10; ++i) {
    INFO("element " << i << " x = " << x.data()[i]);
    float v = x.data()[i] / 0.25f;
    bool inside = v >= -4.0f && v <= 3.0f;
    // Clamp passes the gradient inside its range, round_ste passes 1.
    CHECK(x.grad_values()[i] == (inside ? r[i] : 0.0f));
    // LSQ: d/ds s round(clamp(x/s)) = round(v) - v inside, the clamp bound outside.
    dstep += r[i] * (inside ? std::nearbyint(v) - v : std::min(std::max(v, -4.0f), 3.0f));
  }
  CHECK(q.step.grad_values()[0] == doctest::Approx(dstep).epsilon(1e-5));
  // The bounds themselves pass the gradient (docs/METHOD.md: clamp is inclusive).
  Tensor edge({2}, {-1.0f, 0.75f});
  edge.requires_grad_();
  engine::sum_all(q.forward(edge)).backward();
  CHECK(edge.grad_values() == std::vector<float>{1.0f, 1.0f});
}

TEST_CASE("fake_quantize: values and x's gradient are the composition's bits, the step's its sum") {
  // Past the threading threshold; codes on both sides of the range, rounding ties and the bounds
  // themselves; gradients added to ones already there, as a block input's readers add theirs.
  engine::Rng rng(70);
  const int64_t n = 70001;
  const float s = 0.25f, prior_step = 0.5f;
  for (const auto& [qn, qp] : {std::pair{-4.0f, 3.0f}, std::pair{0.0f, 15.0f}}) {
    CAPTURE(qn);
    std::vector<float> values = engine::rand_uniform({n}, rng, -3.0f, 3.0f).values();
    const std::vector<float> special = {0.625f, -0.375f, -1.0f, 0.75f, 3.75f, 0.0f, -0.0f};
    std::copy(special.begin(), special.end(), values.begin());  // ties, bounds, zeros (s = 0.25)
    Tensor x = Tensor({n}, values).requires_grad_();
    const std::vector<float> dout = engine::randn({n}, rng).values();
    const std::vector<float> prior = engine::randn({n}, rng).values();
    auto run = [&](bool fused, int threads) {
      engine::set_threads(threads);
      Tensor step = Tensor({1}, std::vector<float>{s}).requires_grad_();
      x.zero_grad();
      std::copy(prior.begin(), prior.end(), x.grad());
      step.grad()[0] = prior_step;
      Tensor y =
          fused ? engine::fake_quantize(x, step, qn, qp)
                : engine::mul(engine::round_ste(engine::clamp(engine::div(x, step), qn, qp)), step);
      engine::sum_all(engine::mul(y, Tensor({n}, dout))).backward();
      return std::vector<std::vector<float>>{y.values(), x.grad_values(), step.grad_values()};
    };
    const auto composed = run(false, 2), fused = run(true, 2);
    for (int k = 0; k < 2; ++k) {
      CAPTURE(k);  // 0 the values, 1 x's gradient
      REQUIRE(fused[k].size() == composed[k].size());
      CHECK(std::memcmp(fused[k].data(), composed[k].data(), fused[k].size() * sizeof(float)) == 0);
    }
    // LSQ's step gradient, summed in double: dout * (round(v) - v) inside, dout * bound outside.
    double expected = prior_step;
    for (int64_t i = 0; i < n; ++i) {
      const float v = values[i] / s, clamped = std::min(std::max(v, qn), qp);
      expected += dout[i] * (v == clamped ? std::nearbyint(v) - v : clamped);
    }
    CHECK(fused[2][0] == doctest::Approx(expected).epsilon(1e-5));
    // The step's sum is made in an order that does not depend on the thread count.
    for (int threads : {1, 3}) CHECK(run(true, threads)[2] == fused[2]);
  }
  engine::set_threads(engine::resolve_threads(0));
}

TEST_CASE("fake_quantize with QDrop is random_where(1 - p, x, fake_quantize(x)) bit for bit") {
  engine::Rng data(71);
  const int64_t n = 70001;  // past the threading threshold
  const Tensor dout = engine::randn({n}, data);
  const std::vector<float> prior = engine::randn({n}, data).values();
  Tensor x = engine::rand_uniform({n}, data, -1.0f, 4.0f).requires_grad_();
  auto run = [&](bool fused) {
    Tensor step = Tensor({1}, std::vector<float>{0.25f}).requires_grad_();
    x.zero_grad();
    std::copy(prior.begin(), prior.end(), x.grad());
    engine::Rng rng(5);
    Tensor y =
        fused ? engine::fake_quantize(x, step, 0.0f, 15.0f, 0.5f, rng)
              : engine::random_where(0.5f, rng, x, engine::fake_quantize(x, step, 0.0f, 15.0f));
    engine::sum_all(engine::mul(y, dout)).backward();
    return std::vector<std::vector<float>>{y.values(),
                                           x.grad_values(),
                                           step.grad_values(),
                                           {static_cast<float>(rng.next_u64() >> 40)}};
  };
  const auto fused = run(true), composed = run(false);
  for (int k = 0; k < 4; ++k) {
    CAPTURE(k);  // the values, x's gradient, the step's, the generator's next draw
    REQUIRE(fused[k].size() == composed[k].size());
    CHECK(std::memcmp(fused[k].data(), composed[k].data(), fused[k].size() * sizeof(float)) == 0);
  }
}

TEST_CASE(
    "activation quantizer: in the clamped region the step gradient is the finite difference") {
  // Outside the range y = s * Qp (or s * Qn) is smooth in s, so the LSQ gradient there is exact.
  genie::ActivationQuantizer q(4, false, 0.1f);
  Tensor x({1, 4}, {2.0f, 3.0f, 5.0f, 7.5f});  // all above Qp s = 1.5
  testing::check_gradients(
      [&](auto& in) {
        q.step = in[0];
        return q.forward(x);
      },
      {q.step}, {1e-3f, 2e-3f, 1e-2f});  // eps 1e-3 keeps x / s above Qp = 15 on both sides
}

TEST_CASE("QDrop: p_quantized 1 is quantized, 0 is float, 0.5 mixes them element-wise") {
  engine::Rng rng(60);
  Tensor x = engine::randn({4, 8, 5, 5}, rng);
  genie::ActivationQuantizer q(3);
  q.initialize(x);
  Tensor quantized = q.forward(x);
  CHECK(q.forward(x, 1.0f, rng).values() == quantized.values());
  CHECK(q.forward(x, 0.0f, rng).values() == x.values());
  Tensor mixed = q.forward(x, 0.5f, rng);
  int differ = 0, kept_float = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    float m = mixed.data()[i];
    CHECK((m == x.data()[i] || m == quantized.data()[i]));
    if (x.data()[i] == quantized.data()[i]) continue;
    ++differ;
    kept_float += m == x.data()[i];
  }
  REQUIRE(differ > 700);
  // Binomial(differ, 0.5): 4 standard deviations are under 0.075 of differ for differ > 700.
  CHECK(std::fabs(static_cast<double>(kept_float) / differ - 0.5) < 0.075);
}

TEST_CASE("activation quantizer refuses bits outside 2..8") {
  CHECK_THROWS_AS(genie::ActivationQuantizer(1), std::invalid_argument);
  CHECK_THROWS_AS(genie::ActivationQuantizer(9), std::invalid_argument);
}

// ---------------------------------------------------------------- placement

TEST_CASE("QuantizedResNet places 8-bit stem weights, second-layer input and classifier") {
  models::ResNet m(testing::tiny_resnet20('A'));
  genie::QuantPolicy policy;
  policy.weight_bits = 3;
  policy.activation_bits = 5;
  genie::QuantizedResNet q(m, policy);
  CHECK(q.layers().size() == 20);  // 19 convs and the classifier
  genie::QuantizedLayer& stem = q.layer("conv1");
  CHECK(stem.weight->bits() == 8);
  CHECK(stem.input == nullptr);
  genie::QuantizedLayer& second = q.layer("layer1.0.conv1");
  CHECK(second.weight->bits() == 3);
  REQUIRE(second.input != nullptr);
  CHECK(second.input->bits() == 8);
  genie::QuantizedLayer& fc = q.layer("linear");
  CHECK(fc.weight->bits() == 8);
  REQUIRE(fc.input != nullptr);
  CHECK(fc.input->bits() == 8);
  for (const char* name : {"layer1.0.conv2", "layer2.0.conv1", "layer3.2.conv2"}) {
    INFO(name);
    CHECK(q.layer(name).weight->bits() == 3);
    REQUIRE(q.layer(name).input != nullptr);
    CHECK(q.layer(name).input->bits() == 5);
  }
  CHECK_THROWS_AS(q.layer("layer9.0.conv1"), std::invalid_argument);

  policy.first_last_8bit = false;
  genie::QuantizedResNet all(m, policy);
  for (auto& [name, l] : all.layers()) {
    INFO(name);
    CHECK(l.weight->bits() == 3);
    if (name == "conv1")
      CHECK(l.input == nullptr);
    else
      CHECK((l.input != nullptr && l.input->bits() == 5));
  }
}

TEST_CASE("QuantizedResNet shares a block's input quantizer with its projection shortcut") {
  models::ResNet m(testing::tiny_resnet20('B'));
  genie::QuantizedResNet q(m, genie::QuantPolicy{});
  CHECK(q.layers().size() == 22);  // 21 convs and the classifier
  for (const char* block : {"layer2.0", "layer3.0"}) {
    INFO(block);
    std::string b = block;
    genie::QuantizedLayer& shortcut = q.layer(b + ".shortcut.0");
    REQUIRE(shortcut.input != nullptr);
    CHECK(shortcut.input.get() == q.layer(b + ".conv1").input.get());
    CHECK(shortcut.input != q.layer(b + ".conv2").input);
    CHECK(shortcut.weight->bits() == 4);
  }
}

TEST_CASE(
    "a parameter-free shortcut reads the block input quantized or float, as the policy says") {
  models::ResNet m(testing::tiny_resnet20('A'), 3);
  engine::Rng rng(4);
  Tensor x = engine::randn({4, 1, 8, 8}, rng);
  engine::NoGrad no_grad;
  std::vector<float> logits[2];
  for (genie::SkipInput skip : {genie::SkipInput::quantized, genie::SkipInput::full_precision}) {
    genie::QuantPolicy policy;
    policy.skip_input = skip;
    genie::QuantizedResNet q(m, policy);
    q.initialize_activations(x, rng);
    models::ForwardHooks hooks = q.hooks(rng);
    models::Block& block = m.blocks().at(3);  // layer2.0: option A subsamples and pads
    Tensor block_input = engine::relu(engine::randn({4, 4, 8, 8}, rng));
    std::vector<float> read = hooks.skip_input(block, block_input).values();
    if (skip == genie::SkipInput::quantized)
      CHECK(read == q.layer("layer2.0.conv1").input->forward(block_input).values());
    else
      CHECK(read == block_input.values());
    logits[skip == genie::SkipInput::quantized] = m.forward(x, hooks).values();
  }
  CHECK(logits[0] != logits[1]);
}

TEST_CASE("while learning, a quantized skip draws a QDrop mask of its own at each read") {
  models::ResNet m(testing::tiny_resnet20('A'), 3);
  engine::Rng rng(5);
  Tensor x = engine::randn({4, 1, 8, 8}, rng);
  engine::NoGrad no_grad;
  genie::QuantizedResNet q(m, genie::QuantPolicy{});
  q.initialize_activations(x, rng);
  const int unit = 4;  // layer2.0
  q.set_unit_mode(unit, {false, 0.5f});
  models::Block& block = m.blocks().at(unit - 1);
  genie::QuantizedLayer& conv1 = q.layer(block.convs[0].name);
  Tensor block_input = engine::relu(engine::randn({4, 4, 8, 8}, rng));
  std::vector<float> quantized = conv1.input->forward(block_input).values();
  std::vector<float> plain = block_input.values();
  models::ForwardHooks hooks = q.hooks(rng);
  std::vector<float> first = hooks.skip_input(block, block_input).values();
  std::vector<float> second = hooks.skip_input(block, block_input).values();
  int64_t differ = 0, kept_float = 0, both = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    both += quantized[i] != plain[i];  // elements where the mask shows
    differ += first[i] != second[i];
    kept_float += quantized[i] != plain[i] && first[i] == plain[i];
    CHECK((first[i] == plain[i] || first[i] == quantized[i]));
  }
  REQUIRE(both > 100);
  CHECK(differ > both / 4);      // two draws, about half of the visible elements apart
  CHECK(kept_float > both / 4);  // about half stay float
  CHECK(kept_float < both * 3 / 4);
}

TEST_CASE("unit_layers lists each reconstruction unit's layers in order") {
  models::ResNet m(testing::tiny_resnet20('B'));
  genie::QuantizedResNet q(m, genie::QuantPolicy{});
  REQUIRE(m.num_units() == 11);
  auto names_of = [&](int unit) {
    std::vector<genie::QuantizedLayer*> layers = q.unit_layers(unit);
    std::vector<std::string> names;
    for (genie::QuantizedLayer* l : layers)
      for (auto& [name, candidate] : q.layers())
        if (&candidate == l) names.push_back(name);
    return names;
  };
  CHECK(names_of(0) == std::vector<std::string>{"conv1"});
  CHECK(names_of(1) == std::vector<std::string>{"layer1.0.conv1", "layer1.0.conv2"});
  CHECK(names_of(4) ==
        std::vector<std::string>{"layer2.0.conv1", "layer2.0.conv2", "layer2.0.shortcut.0"});
  CHECK(names_of(9) == std::vector<std::string>{"layer3.2.conv1", "layer3.2.conv2"});
  CHECK(names_of(10) == std::vector<std::string>{"linear"});
  int total = 0;
  for (int u = 0; u < m.num_units(); ++u) total += static_cast<int>(q.unit_layers(u).size());
  CHECK(total == 22);
}

TEST_CASE("QuantizedResNet at W8A8 stays close to the float model; at W2A2 it does not") {
  models::ResNet m(testing::tiny_resnet20('B'), 70);
  engine::Rng rng(71);
  Tensor x = engine::randn({8, 1, 8, 8}, rng);
  engine::NoGrad no_grad;
  Tensor ref = m.forward(x);
  double scale = 0.0;
  for (float v : ref.values()) scale = std::max(scale, static_cast<double>(std::fabs(v)));
  auto max_error = [&](int bits) {
    genie::QuantPolicy policy;
    policy.weight_bits = policy.activation_bits = bits;
    genie::QuantizedResNet q(m, policy);
    q.initialize_activations(x, rng);
    Tensor y = m.forward(x, q.hooks(rng));
    double e = 0.0;
    for (int64_t i = 0; i < y.numel(); ++i)
      e = std::max(e, static_cast<double>(std::fabs(y.data()[i] - ref.data()[i])));
    return e;
  };
  // 8 bits everywhere: 256 levels over each range, errors of a few percent at most after
  // 20 quantized layers.
  double e8 = max_error(8), e2 = max_error(2);
  CHECK(e8 > 0.0);
  CHECK(e8 < 0.1 * scale);
  CHECK(e2 > 3.0 * e8);  // 3 levels instead of 255: the error grows by far more than 3x
}
