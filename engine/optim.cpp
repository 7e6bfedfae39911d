// Adam and SGD: float32 update kernels over plain arrays (llm.c style, outputs first, length
// last), and the optimizer classes that feed them one parameter at a time. The order of the
// float operations follows PyTorch 1.13's _single_tensor_adam / _single_tensor_sgd.
// Shapes: every array in one kernel call has the parameter's numel n.
#include "engine/optim.h"

#include <cmath>
#include <stdexcept>

namespace engine {

namespace {

// g + wd * p, PyTorch's grad.add(param, alpha=weight_decay).
inline float decayed_grad(float g, float p, float weight_decay) { return g + weight_decay * p; }

struct AdamStepScalars {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, weight_decay;
  float step_size;              // lr / (1 - beta1^t)
  float bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  float eps;
};

void adam_update(float* param, float* m, float* v, const float* grad, int64_t n,
                 const AdamStepScalars& s) {
  for (int64_t i = 0; i < n; ++i) {
    float g = decayed_grad(grad[i], param[i], s.weight_decay);
    m[i] = m[i] * s.beta1 + s.one_minus_beta1 * g;
    v[i] = v[i] * s.beta2 + s.one_minus_beta2 * g * g;
    float denom = std::sqrt(v[i]) / s.bias_correction2_sqrt + s.eps;
    param[i] = param[i] + -s.step_size * m[i] / denom;
  }
}

// First step: PyTorch's buffer starts as a copy of the (decayed) gradient.
void sgd_first_momentum_update(float* param, float* buf, const float* grad, int64_t n, float lr,
                               float weight_decay) {
  for (int64_t i = 0; i < n; ++i) {
    buf[i] = decayed_grad(grad[i], param[i], weight_decay);
    param[i] = param[i] + -lr * buf[i];
  }
}

void sgd_momentum_update(float* param, float* buf, const float* grad, int64_t n, float lr,
                         float momentum, float weight_decay) {
  for (int64_t i = 0; i < n; ++i) {
    buf[i] = buf[i] * momentum + decayed_grad(grad[i], param[i], weight_decay);
    param[i] = param[i] + -lr * buf[i];
  }
}

void sgd_update(float* param, const float* grad, int64_t n, float lr, float weight_decay) {
  for (int64_t i = 0; i < n; ++i)
    param[i] = param[i] + -lr * decayed_grad(grad[i], param[i], weight_decay);
}

void check_finite_nonnegative(const char* what, double value) {
  if (!(value >= 0.0) || std::isinf(value))
    throw std::invalid_argument(std::string("optimizer: ") + what +
                                " must be finite and >= 0, got " + std::to_string(value));
}

const Tensor* find_state(const NamedTensors& state, const std::string& name) {
  for (const auto& [key, tensor] : state)
    if (key == name) return &tensor;
  return nullptr;
}

// The named tensor, checked against the expected shape.
const Tensor& require_state(const NamedTensors& state, const std::string& name,
                            const Shape& shape) {
  const Tensor* t = find_state(state, name);
  if (t == nullptr || !t->defined())
    throw std::invalid_argument("optimizer state: missing tensor '" + name + "'");
  if (t->shape() != shape)
    throw std::invalid_argument("optimizer state: '" + name + "' has shape " +
                                shape_str(t->shape()) + ", expected " + shape_str(shape));
  return *t;
}

Tensor scalar_tensor(float value) { return Tensor({1}, std::vector<float>{value}); }

}  // namespace

Optimizer::Optimizer(std::vector<Tensor> params, float lr) : lr(lr), params_(std::move(params)) {
  check_finite_nonnegative("lr", lr);
  for (size_t i = 0; i < params_.size(); ++i)
    if (!params_[i].defined())
      throw std::invalid_argument("optimizer: parameter " + std::to_string(i) + " is undefined");
}

void Optimizer::zero_grad() {
  for (const Tensor& p : params_) p.zero_grad();
}

Adam::Adam(std::vector<Tensor> params, float lr, AdamOptions options)
    : Optimizer(std::move(params), lr), options_(options), steps_(params_.size(), 0) {
  if (!(options.beta1 >= 0.0 && options.beta1 < 1.0) ||
      !(options.beta2 >= 0.0 && options.beta2 < 1.0))
    throw std::invalid_argument("Adam: betas must lie in [0, 1), got (" +
                                std::to_string(options.beta1) + ", " +
                                std::to_string(options.beta2) + ")");
  check_finite_nonnegative("eps", options.eps);
  check_finite_nonnegative("weight_decay", options.weight_decay);
  for (const Tensor& p : params_) {
    m_.emplace_back(p.shape());
    v_.emplace_back(p.shape());
  }
}

void Adam::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (!p.has_grad()) continue;
    double t = static_cast<double>(++steps_[i]);
    AdamStepScalars s;
    s.beta1 = static_cast<float>(options_.beta1);
    s.one_minus_beta1 = static_cast<float>(1.0 - options_.beta1);
    s.beta2 = static_cast<float>(options_.beta2);
    s.one_minus_beta2 = static_cast<float>(1.0 - options_.beta2);
    s.weight_decay = static_cast<float>(options_.weight_decay);
    s.step_size = static_cast<float>(lr / (1.0 - std::pow(options_.beta1, t)));
    s.bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(options_.beta2, t)));
    s.eps = static_cast<float>(options_.eps);
    adam_update(p.data(), m_[i].data(), v_[i].data(), p.grad(), p.numel(), s);
  }
}

NamedTensors Adam::state() const {
  NamedTensors state{{"lr", scalar_tensor(lr)}};
  for (size_t i = 0; i < params_.size(); ++i) {
    std::string index = std::to_string(i);
    state.emplace_back("adam.step." + index, scalar_tensor(static_cast<float>(steps_[i])));
    state.emplace_back("adam.m." + index, m_[i].clone());
    state.emplace_back("adam.v." + index, v_[i].clone());
  }
  return state;
}

void Adam::load_state(const NamedTensors& state) {
  float new_lr = require_state(state, "lr", {1}).item();
  check_finite_nonnegative("lr", new_lr);
  std::vector<int64_t> steps(params_.size());
  std::vector<Tensor> m, v;
  // Validate everything before changing anything, so a bad checkpoint leaves us intact.
  for (size_t i = 0; i < params_.size(); ++i) {
    std::string index = std::to_string(i);
    float step = require_state(state, "adam.step." + index, {1}).item();
    if (!(step >= 0.0f) || step != std::floor(step))
      throw std::invalid_argument("optimizer state: 'adam.step." + index +
                                  "' must be a whole number >= 0, got " + std::to_string(step));
    steps[i] = static_cast<int64_t>(step);
    m.push_back(require_state(state, "adam.m." + index, params_[i].shape()).clone());
    v.push_back(require_state(state, "adam.v." + index, params_[i].shape()).clone());
  }
  lr = new_lr;
  steps_ = std::move(steps);
  m_ = std::move(m);
  v_ = std::move(v);
}

Sgd::Sgd(std::vector<Tensor> params, float lr, SgdOptions options)
    : Optimizer(std::move(params), lr), options_(options), momentum_(params_.size()) {
  check_finite_nonnegative("momentum", options.momentum);
  check_finite_nonnegative("weight_decay", options.weight_decay);
}

void Sgd::step() {
  float momentum = static_cast<float>(options_.momentum);
  float weight_decay = static_cast<float>(options_.weight_decay);
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (!p.has_grad()) continue;
    if (options_.momentum == 0.0) {
      sgd_update(p.data(), p.grad(), p.numel(), lr, weight_decay);
    } else if (!momentum_[i].defined()) {
      momentum_[i] = Tensor(p.shape());
      sgd_first_momentum_update(p.data(), momentum_[i].data(), p.grad(), p.numel(), lr,
                                weight_decay);
    } else {
      sgd_momentum_update(p.data(), momentum_[i].data(), p.grad(), p.numel(), lr, momentum,
                          weight_decay);
    }
  }
}

NamedTensors Sgd::state() const {
  NamedTensors state{{"lr", scalar_tensor(lr)}};
  for (size_t i = 0; i < params_.size(); ++i)
    if (momentum_[i].defined())
      state.emplace_back("sgd.momentum." + std::to_string(i), momentum_[i].clone());
  return state;
}

void Sgd::load_state(const NamedTensors& state) {
  float new_lr = require_state(state, "lr", {1}).item();
  check_finite_nonnegative("lr", new_lr);
  std::vector<Tensor> momentum(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    std::string name = "sgd.momentum." + std::to_string(i);
    if (find_state(state, name) != nullptr)
      momentum[i] = require_state(state, name, params_[i].shape()).clone();
  }
  lr = new_lr;
  momentum_ = std::move(momentum);
}

}  // namespace engine
