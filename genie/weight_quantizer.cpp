// The weight quantizer; see weight_quantizer.h.
#include "genie/weight_quantizer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

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

WeightQuantizer::WeightQuantizer(const Tensor& weight, int bits) : bits_(bits) {
  if (bits < 1 || bits > 8) throw std::invalid_argument("weight bits must be 1..8");
  const int k = weight.size(0);
  const int64_t per = weight.numel() / k;
  step = Tensor(channel_shape(weight.shape()));
  zero_point = Tensor(channel_shape(weight.shape()));
  floor_codes = Tensor(weight.shape());
  soft_bits = Tensor(weight.shape());
  for (int c = 0; c < k; ++c) {
    const float* w = weight.data() + c * per;
    auto [lo, hi] = std::minmax_element(w, w + per);
    ClipResult r = search_clip(w, per, *lo, *hi, bits);
    step.data()[c] = r.step;
    zero_point.data()[c] = r.zero_point;
    for (int64_t i = 0; i < per; ++i) {
      float scaled = w[i] / r.step;
      floor_codes.data()[c * per + i] = std::floor(scaled);
      soft_bits.data()[c * per + i] = inverse_rectified_sigmoid(scaled - std::floor(scaled));
    }
  }
  step.requires_grad_();
  soft_bits.requires_grad_();
}

WeightQuantizer WeightQuantizer::from_codes(const engine::CodeTensor& codes, const Tensor& step,
                                            const Tensor& zero_point) {
  if (codes.bits < 1 || codes.bits > 8 || codes.shape.empty() ||
      static_cast<int64_t>(codes.codes.size()) != engine::numel_of(codes.shape) ||
      step.numel() != codes.shape[0] || zero_point.numel() != codes.shape[0])
    throw std::invalid_argument("quantized weights: codes " + engine::shape_str(codes.shape) +
                                " do not match step " + engine::shape_str(step.shape()) +
                                " and zero point " + engine::shape_str(zero_point.shape()));
  WeightQuantizer q;
  q.bits_ = codes.bits;
  q.step = step.clone();
  q.zero_point = zero_point.clone();
  q.floor_codes = Tensor(codes.shape);
  q.soft_bits = Tensor(codes.shape, -1.0f);  // [V >= 0] = 0: the codes are B + zp exactly
  const int64_t per = q.floor_codes.numel() / codes.shape[0];
  for (int64_t i = 0; i < q.floor_codes.numel(); ++i)
    q.floor_codes.data()[i] = static_cast<float>(codes.codes[i]) - zero_point.data()[i / per];
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

Tensor WeightQuantizer::hard_weights() const {
  engine::CodeTensor c = codes();
  Tensor centred(c.shape);
  const int64_t per = centred.numel() / c.shape[0];
  for (int64_t i = 0; i < centred.numel(); ++i)
    centred.data()[i] = static_cast<float>(c.codes[i]) - zero_point.data()[i / per];
  return engine::mul(centred, step);
}

Tensor WeightQuantizer::rounding_loss(float beta) const {
  Tensor spread =
      engine::abs(engine::add_scalar(engine::mul_scalar(rectified_sigmoid(), 2.0f), -1.0f));
  return engine::sum_all(
      engine::add_scalar(engine::mul_scalar(engine::pow(spread, beta), -1.0f), 1.0f));
}

engine::CodeTensor WeightQuantizer::codes() const {
  engine::CodeTensor c{floor_codes.shape(), bits_, std::vector<uint8_t>(floor_codes.numel())};
  const int64_t per = floor_codes.numel() / floor_codes.size(0);
  for (int64_t i = 0; i < floor_codes.numel(); ++i) {
    float rounded = floor_codes.data()[i] + (soft_bits.data()[i] >= 0.0f ? 1.0f : 0.0f);
    float code = std::clamp(rounded + zero_point.data()[i / per], 0.0f, max_code(bits_));
    c.codes[i] = static_cast<uint8_t>(code);
  }
  return c;
}

}  // namespace genie
