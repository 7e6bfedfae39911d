// The weight quantizer; see weight_quantizer.h.
#include "genie/weight_quantizer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "genie/clip_search.h"

namespace genie {

namespace {

constexpr float kZeta = 1.1f, kGamma = -0.1f;  // rectified sigmoid stretch (AdaRound)

engine::Shape channel_shape(const engine::Shape& weight) {
  engine::Shape s(weight.size(), 1);
  s[0] = weight[0];
  return s;
}

// V with h(V) = residue: the inverse of the stretched sigmoid, -log(1.2 / (r + 0.1) - 1).
float inverse_rectified_sigmoid(float residue) {
  return -std::log((kZeta - kGamma) / (residue - kGamma) - 1.0f);
}

float max_code(int bits) { return static_cast<float>((1 << bits) - 1); }

}  // namespace

// The initialisation is a search, run once on a host copy of the weights; its results are then
// moved to the weights' device.
WeightQuantizer::WeightQuantizer(const Tensor& weight, int bits) : bits_(bits) {
  if (bits < 1 || bits > 8) throw std::invalid_argument("weight bits must be 1..8");
  const int k = weight.size(0);
  const int64_t per = weight.numel() / k;
  const std::vector<float> w = weight.values();
  std::vector<float> steps(k), zero_points(k), floors(w.size()), bits_init(w.size());
  for (int c = 0; c < k; ++c) {
    const float* row = w.data() + c * per;
    auto [lo, hi] = std::minmax_element(row, row + per);
    ClipResult r = search_clip(row, per, *lo, *hi, bits);
    steps[c] = r.step;
    zero_points[c] = r.zero_point;
    for (int64_t i = c * per; i < (c + 1) * per; ++i) {
      float scaled = w[i] / r.step;
      floors[i] = std::floor(scaled);
      bits_init[i] = inverse_rectified_sigmoid(scaled - std::floor(scaled));
    }
  }
  const engine::Device device = weight.device();
  step = Tensor(channel_shape(weight.shape()), steps, device).requires_grad_();
  zero_point = Tensor(channel_shape(weight.shape()), zero_points, device);
  floor_codes = Tensor(weight.shape(), floors, device);
  soft_bits = Tensor(weight.shape(), bits_init, device).requires_grad_();
}

WeightQuantizer WeightQuantizer::from_codes(const engine::CodeTensor& codes, const Tensor& step,
                                            const Tensor& zero_point) {
  if (codes.bits < 1 || codes.bits > 8 || codes.shape.empty() ||
      static_cast<int64_t>(codes.codes.size()) != engine::numel_of(codes.shape) ||
      step.numel() != codes.shape[0] || zero_point.numel() != codes.shape[0])
    throw std::invalid_argument("quantized weights: codes " + engine::shape_str(codes.shape) +
                                " do not match step " + engine::shape_str(step.shape()) +
                                " and zero point " + engine::shape_str(zero_point.shape()));
  const engine::Device device = step.device();
  const engine::Shape channel = channel_shape(codes.shape);
  WeightQuantizer q;
  q.bits_ = codes.bits;
  q.step = engine::reshape(step, channel).clone();
  q.zero_point = engine::reshape(zero_point, channel).clone();
  Tensor stored(codes.shape, std::vector<float>(codes.codes.begin(), codes.codes.end()), device);
  q.floor_codes = engine::sub(stored, q.zero_point);
  q.soft_bits = Tensor(codes.shape, -1.0f, device);  // [V >= 0] = 0: the codes are B + zp exactly
  return q;
}

Tensor WeightQuantizer::rectified_sigmoid() const {
  Tensor stretched =
      engine::add_scalar(engine::mul_scalar(engine::sigmoid(soft_bits), kZeta - kGamma), kGamma);
  return engine::clamp(stretched, 0.0f, 1.0f);
}

Tensor WeightQuantizer::soft_weights() const {
  Tensor codes = engine::add(engine::add(floor_codes, rectified_sigmoid()), zero_point);
  return engine::mul(engine::sub(engine::clamp(codes, 0.0f, max_code(bits_)), zero_point), step);
}

Tensor WeightQuantizer::hard_codes() const {
  engine::NoGrad no_grad;  // the codes are integers: nothing flows back into V
  Tensor rounded = engine::add(engine::add(floor_codes, engine::heaviside(soft_bits)), zero_point);
  return engine::clamp(rounded, 0.0f, max_code(bits_));
}

Tensor WeightQuantizer::hard_weights() const {
  Tensor centred;
  {
    engine::NoGrad no_grad;
    centred = engine::sub(hard_codes(), zero_point);
  }
  return engine::mul(centred, step);
}

Tensor WeightQuantizer::rounding_loss(float beta) const {
  Tensor spread =
      engine::abs(engine::add_scalar(engine::mul_scalar(rectified_sigmoid(), 2.0f), -1.0f));
  return engine::sum_all(
      engine::add_scalar(engine::mul_scalar(engine::pow(spread, beta), -1.0f), 1.0f));
}

engine::CodeTensor WeightQuantizer::codes() const {
  const std::vector<float> codes = hard_codes().values();  // integers in [0, 2^b - 1]
  return {floor_codes.shape(), bits_, std::vector<uint8_t>(codes.begin(), codes.end())};
}

void WeightQuantizer::to(engine::Device device) {
  for (Tensor* t : {&step, &soft_bits, &zero_point, &floor_codes}) t->move_to(device);
}

}  // namespace genie
