// GENIE-M's reconstruction: the loss and beta schedule by hand, one unit's reconstruction
// lowering its error, and the whole unit-by-unit quantization of a tiny ResNet-20.
// Shapes: images (N, 1, 8, 8); unit activations (N, C, H, W); logits (N, classes).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "genie/quantize.h"
#include "genie/reconstruct.h"
#include "models/resnet.h"
#include "tests/tiny_models.h"

using engine::Tensor;

namespace {

// The input of unit `unit`: units 0..unit-1 run on x with `hooks`, without gradients.
Tensor unit_input(models::ResNet& m, int unit, const Tensor& x, const models::ForwardHooks& hooks) {
  engine::NoGrad no_grad;
  Tensor h = x;
  for (int u = 0; u < unit; ++u) h = m.forward_unit(u, h, hooks);
  return h;
}

// A tiny ResNet-20 with random BN statistics and frozen parameters.
models::ResNet frozen_tiny_resnet(uint64_t seed) {
  models::ResNet m(testing::tiny_resnet20('B'), seed);
  testing::randomize_batch_norms(m, seed + 1);
  m.set_trainable(false);
  return m;
}

// A unit's reconstruction caches: float input X, quantized-model input X_q, float output Y.
struct UnitCaches {
  Tensor x, x_q, y;
};

UnitCaches unit_caches(models::ResNet& m, int unit, const Tensor& images,
                       const models::ForwardHooks& hooks) {
  return {unit_input(m, unit, images, {}), unit_input(m, unit, images, hooks),
          unit_input(m, unit + 1, images, {})};
}

void set_hard(const std::vector<genie::QuantizedLayer*>& layers) {
  for (genie::QuantizedLayer* l : layers) l->mode = genie::LayerMode{};
}

double correlation(const std::vector<float>& a, const std::vector<float>& b) {
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
  ma /= a.size();
  mb /= b.size();
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

std::vector<int> argmax_rows(const Tensor& logits) {
  const int n = logits.size(0), k = logits.size(1);
  std::vector<int> out(n);
  for (int i = 0; i < n; ++i) {
    const float* row = logits.data() + i * k;
    out[i] = static_cast<int>(std::max_element(row, row + k) - row);
  }
  return out;
}

}  // namespace

TEST_CASE("reconstruction loss sums squares over channels and averages over the rest") {
  // (N=2, C=3, L=2): sum of squared differences 1+4+9+...: divided by N*L = 4.
  Tensor out({2, 3, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  Tensor target({2, 3, 2}, 0.0f);
  target.data()[5] = 6.0f;  // one exact element
  double squares = 0;
  for (int i = 1; i <= 12; ++i) squares += i == 6 ? 0 : i * i;
  CHECK(genie::reconstruction_loss(out, target).item() == doctest::Approx(squares / 4.0));
  // Linear output (N=4, classes=5): the per-image squared norm, averaged over the 4 images.
  Tensor logits({4, 5}, 1.0f);
  CHECK(genie::reconstruction_loss(logits, Tensor({4, 5}, 0.0f)).item() == doctest::Approx(5.0));
}

TEST_CASE("rounding beta: 20 for the first 20% of the iterations, then linear to 2") {
  CHECK(genie::rounding_beta(1, 1000) == 20.0f);
  CHECK(genie::rounding_beta(199, 1000) == 20.0f);
  CHECK(genie::rounding_beta(200, 1000) == doctest::Approx(20.0f));
  CHECK(genie::rounding_beta(600, 1000) == doctest::Approx(11.0f));  // midpoint of the decay
  CHECK(genie::rounding_beta(1000, 1000) == doctest::Approx(2.0f));
  CHECK(genie::rounding_beta(4000, 20000) == doctest::Approx(20.0f));
  CHECK(genie::rounding_beta(12000, 20000) == doctest::Approx(11.0f));
  CHECK(genie::rounding_beta(20000, 20000) == doctest::Approx(2.0f));
  // Monotone non-increasing.
  for (int it = 2; it <= 100; ++it)
    CHECK(genie::rounding_beta(it, 100) <= genie::rounding_beta(it - 1, 100));
}

TEST_CASE("reconstructing one unit lowers its hard-rounded reconstruction error") {
  models::ResNet m = frozen_tiny_resnet(80);
  engine::Rng rng(82);
  Tensor images = engine::randn({64, 1, 8, 8}, rng);
  genie::QuantPolicy policy;
  policy.weight_bits = 2;
  policy.activation_bits = 4;
  genie::QuantizedResNet q(m, policy);
  const int unit = 4;  // layer2.0: strided, with a projection shortcut sharing its input quantizer
  models::ForwardHooks hooks = q.hooks(rng);
  q.initialize_activations(images, rng);
  UnitCaches caches = unit_caches(m, unit, images, hooks);
  const Tensor &x = caches.x, &x_q = caches.x_q, &y = caches.y;
  std::vector<genie::QuantizedLayer*> layers = q.unit_layers(unit);
  REQUIRE(layers.size() == 3);
  auto hard_error = [&] {
    set_hard(layers);
    engine::NoGrad no_grad;
    return genie::reconstruction_loss(m.forward_unit(unit, x_q, hooks), y).item();
  };
  double before = hard_error();
  std::vector<float> steps_before = layers[0]->weight->step.values();
  float activation_step_before = layers[0]->input->step.item();

  genie::ReconstructConfig config;
  config.iters = 300;
  config.batch = 16;
  config.progress = false;
  q.set_unit_mode(unit, {true, 0.5f});
  genie::ReconstructLoss last = genie::reconstruct_unit(q, unit, x, x_q, y, config, rng);
  CHECK(layers[0]->mode.soft_bits);  // left as the caller set it
  CHECK(layers[0]->mode.p_quantized == 0.5f);
  CHECK(std::isfinite(last.reconstruction));
  CHECK(last.rounding > 0.0);
  double after = hard_error();
  INFO("hard-rounded loss before " << before << " after " << after);
  // 300 steps remove about 30% of the W2A4 error here; 20% leaves room for other seeds.
  CHECK(after < 0.8 * before);
  // GENIE-M learns the weight and activation steps too.
  CHECK(layers[0]->weight->step.values() != steps_before);
  CHECK(layers[0]->input->step.item() != activation_step_before);
  // Only this unit's quantizers moved.
  CHECK(q.layer("layer1.2.conv1").weight->step.values() ==
        genie::QuantizedResNet(m, policy).layer("layer1.2.conv1").weight->step.values());
}

TEST_CASE("AdaRound keeps the weight step; BRECQ's first stage leaves inputs float") {
  models::ResNet m = frozen_tiny_resnet(85);
  engine::Rng rng(87);
  Tensor images = engine::randn({32, 1, 8, 8}, rng);
  genie::QuantPolicy policy;
  policy.weight_bits = 3;
  policy.activation_bits = 3;
  genie::QuantizedResNet q(m, policy);
  const int unit = 2;
  models::ForwardHooks hooks = q.hooks(rng);
  q.initialize_activations(images, rng);
  UnitCaches caches = unit_caches(m, unit, images, hooks);
  const Tensor &x = caches.x, &x_q = caches.x_q, &y = caches.y;
  std::vector<genie::QuantizedLayer*> layers = q.unit_layers(unit);
  std::vector<float> weight_step = layers[1]->weight->step.values();
  std::vector<float> bits = layers[1]->weight->soft_bits.values();
  float activation_step = layers[1]->input->step.item();
  genie::ReconstructConfig config;
  config.iters = 30;
  config.batch = 8;
  config.progress = false;
  config.learn_weight_step = false;
  config.learn_activation_step = false;
  q.set_unit_mode(unit, {true, config.p_quantized_input});
  genie::reconstruct_unit(q, unit, x, x_q, y, config, rng);
  CHECK(layers[1]->weight->step.values() == weight_step);
  CHECK(layers[1]->input->step.item() == activation_step);
  CHECK(layers[1]->weight->soft_bits.values() != bits);
}

TEST_CASE("quantize runs every method end to end on a tiny ResNet-20") {
  models::ResNet m(testing::tiny_resnet20('B'), 90);
  testing::randomize_batch_norms(m, 91);
  engine::Rng rng(92);
  Tensor calibration = engine::randn({64, 1, 8, 8}, rng);
  Tensor test = engine::randn({64, 1, 8, 8}, rng);
  Tensor ref;
  {
    engine::NoGrad no_grad;
    ref = m.forward(test);
  }
  std::vector<float> weights_before = m.classifier().weight.values();
  std::vector<int> ref_class = argmax_rows(ref);
  std::vector<int> histogram(10, 0);
  for (int c : ref_class) ++histogram[c];
  REQUIRE(*std::max_element(histogram.begin(), histogram.end()) < 40);  // not one class

  for (genie::QuantMethod method :
       {genie::QuantMethod::Rtn, genie::QuantMethod::Genie, genie::QuantMethod::QDrop,
        genie::QuantMethod::AdaRound, genie::QuantMethod::Brecq}) {
    INFO(genie::method_name(method));
    genie::QuantConfig config;
    config.method = method;
    config.policy.weight_bits = 4;
    config.policy.activation_bits = 4;
    config.iters = 20;
    config.progress = false;
    std::unique_ptr<genie::QuantizedResNet> q = genie::quantize(m, calibration, config);
    for (auto& [name, l] : q->layers()) {
      INFO(name);
      CHECK_FALSE(l.mode.soft_bits);
      CHECK(l.mode.p_quantized == 1.0f);
      if (l.input) CHECK(l.input->initialized());
    }
    Tensor out;
    {
      engine::NoGrad no_grad;
      out = m.forward(test, q->hooks(rng));
    }
    REQUIRE(out.shape() == ref.shape());
    CHECK(out.values() != ref.values());
    for (float v : out.values()) REQUIRE(std::isfinite(v));
    // W4A4 keeps most of the float network's decisions; chance agreement is about 10%.
    std::vector<int> cls = argmax_rows(out);
    int agree = 0;
    for (size_t i = 0; i < cls.size(); ++i) agree += cls[i] == ref_class[i];
    CHECK(agree > 32);
    CHECK(correlation(out.values(), ref.values()) > 0.8);
    // The float model is left as it was.
    CHECK(m.classifier().weight.values() == weights_before);
    // Only GENIE-M learns the weight step; the baselines keep the clip search's.
    genie::QuantizedResNet fresh(m, config.policy);
    const char* inner = "layer2.0.conv2";
    bool same_step =
        q->layer(inner).weight->step.values() == fresh.layer(inner).weight->step.values();
    CHECK(same_step == (method != genie::QuantMethod::Genie));
    CHECK(genie::parse_quant_method(genie::method_name(method)) == method);
  }
  CHECK_THROWS_AS(genie::parse_quant_method("gptq"), std::invalid_argument);
  CHECK_THROWS_AS(genie::quantize(m, Tensor({8, 64}), genie::QuantConfig{}), std::invalid_argument);
}
