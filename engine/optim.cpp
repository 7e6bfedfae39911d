// Adam and SGD: the optimizer classes, which feed their update kernels (engine/cpu/optim.cpp,
// engine/cuda/; per-element arithmetic in engine/elementwise.h) one parameter at a time.
#include "engine/optim.h"

#include "engine/kernels.h"

#include <cmath>
#include <stdexcept>

namespace engine {

namespace {

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
    m_.emplace_back(p.shape(), 0.0f, p.device());
    v_.emplace_back(p.shape(), 0.0f, p.device());
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
    GENIE_KERNEL(p.device(), adam_update)(p.data(), m_[i].data(), v_[i].data(), p.grad(), p.numel(), s);
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
    Device device = params_[i].device();
    m.push_back(require_state(state, "adam.m." + index, params_[i].shape()).clone().to(device));
    v.push_back(require_state(state, "adam.v." + index, params_[i].shape()).clone().to(device));
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
      GENIE_KERNEL(p.device(), sgd_update)(p.data(), p.grad(), p.numel(), lr, weight_decay);
    } else if (!momentum_[i].defined()) {
      momentum_[i] = Tensor(p.shape(), 0.0f, p.device());
      GENIE_KERNEL(p.device(), sgd_first_momentum_update)(p.data(), momentum_[i].data(), p.grad(), p.numel(), lr,
                                weight_decay);
    } else {
      GENIE_KERNEL(p.device(), sgd_momentum_update)(p.data(), momentum_[i].data(), p.grad(), p.numel(), lr, momentum,
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
      momentum[i] =
          require_state(state, name, params_[i].shape()).clone().to(params_[i].device());
  }
  lr = new_lr;
  momentum_ = std::move(momentum);
}

}  // namespace engine
