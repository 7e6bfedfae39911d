// Layer construction, initialisation and forward; see layers.h.
#include "models/layers.h"

#include <cmath>

namespace models {

namespace {
Tensor uniform_parameter(const engine::Shape& shape, float bound, engine::Rng& rng) {
  Tensor t = engine::rand_uniform(shape, rng, -bound, bound);
  t.requires_grad_();
  return t;
}
}  // namespace

Conv2d make_conv(const std::string& name, int in, int out, int kernel, int stride, int padding,
                 bool bias, Init init, engine::Rng& rng) {
  Conv2d c{name, {}, {}, stride, padding};
  int fan_in = in * kernel * kernel;
  if (init == Init::KaimingNormal) {
    // He et al. 2015, fan_out mode as torchvision's ResNets: std = sqrt(2 / (out * k * k)).
    c.weight = engine::randn({out, in, kernel, kernel}, rng, 0.0f,
                             std::sqrt(2.0f / static_cast<float>(out * kernel * kernel)));
    c.weight.requires_grad_();
  } else {
    // PyTorch's default: kaiming_uniform(a = sqrt(5)) reduces to U(-1/sqrt(fan_in), +).
    c.weight = uniform_parameter({out, in, kernel, kernel}, 1.0f / std::sqrt(fan_in), rng);
  }
  if (bias) c.bias = uniform_parameter({out}, 1.0f / std::sqrt(fan_in), rng);
  return c;
}

BatchNorm2d make_batch_norm(const std::string& name, int channels, bool affine) {
  BatchNorm2d bn{name, {}, {}, {}};
  if (affine) {
    bn.weight = Tensor({channels}, 1.0f).requires_grad_();
    bn.bias = Tensor({channels}, 0.0f).requires_grad_();
  }
  bn.state.running_mean = Tensor({channels}, 0.0f);
  bn.state.running_var = Tensor({channels}, 1.0f);
  return bn;
}

Linear make_linear(const std::string& name, int in, int out, engine::Rng& rng) {
  float bound = 1.0f / std::sqrt(static_cast<float>(in));  // PyTorch's default init
  return {name, uniform_parameter({out, in}, bound, rng), uniform_parameter({out}, bound, rng)};
}

Tensor run(const Conv2d& conv, const Tensor& x) {
  return engine::conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding);
}

Tensor run(const Linear& linear, const Tensor& x) {
  return engine::linear(x, linear.weight, linear.bias);
}

Tensor run(BatchNorm2d& bn, const Tensor& x, bool training) {
  return engine::batch_norm(x, bn.weight, bn.bias, bn.state, training);
}

void append_tensors(Conv2d& conv, std::vector<std::pair<std::string, Tensor*>>& out) {
  out.push_back({conv.name + ".weight", &conv.weight});
  if (conv.bias.defined()) out.push_back({conv.name + ".bias", &conv.bias});
}

void append_tensors(BatchNorm2d& bn, std::vector<std::pair<std::string, Tensor*>>& out) {
  if (bn.weight.defined()) {
    out.push_back({bn.name + ".weight", &bn.weight});
    out.push_back({bn.name + ".bias", &bn.bias});
  }
  out.push_back({bn.name + ".running_mean", &bn.state.running_mean});
  out.push_back({bn.name + ".running_var", &bn.state.running_var});
}

void append_tensors(Linear& linear, std::vector<std::pair<std::string, Tensor*>>& out) {
  out.push_back({linear.name + ".weight", &linear.weight});
  if (linear.bias.defined()) out.push_back({linear.name + ".bias", &linear.bias});
}

void move_tensors(const std::vector<std::pair<std::string, Tensor*>>& named,
                  engine::Device device) {
  for (const auto& [name, tensor] : named) tensor->move_to(device);
}

}  // namespace models
