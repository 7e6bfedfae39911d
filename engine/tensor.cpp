// Tensor handles and their storage; see tensor.h.
#include "engine/tensor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>

namespace engine {

Node::~Node() {
  std::vector<std::shared_ptr<Node>> pending = std::move(inputs);
  backward = nullptr;  // its captured Tensors are references to the inputs too
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    if (n.use_count() == 1) {  // the last owner: take its inputs before it dies
      for (auto& in : n->inputs) pending.push_back(std::move(in));
      n->inputs.clear();
      n->backward = nullptr;
    }
  }
}

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int d : shape) {
    if (d < 0) throw std::invalid_argument("negative dimension in shape " + shape_str(shape));
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

Tensor::Tensor(Shape shape, float fill, Device device) : node_(std::make_shared<Node>()) {
  node_->data = float_storage(device, numel_of(shape), fill);
  node_->shape = std::move(shape);
}

Tensor::Tensor(Shape shape, const std::vector<float>& values, Device device)
    : node_(std::make_shared<Node>()) {
  if (numel_of(shape) != static_cast<int64_t>(values.size()))
    throw std::invalid_argument("tensor of shape " + shape_str(shape) + " given " +
                                std::to_string(values.size()) + " values");
  node_->data = std::make_shared<Storage>(device, values.size() * sizeof(float));
  copy_between(*node_->data, values.data(), values.size() * sizeof(float));
  node_->shape = std::move(shape);
}

Tensor::Tensor(Shape shape, std::shared_ptr<Storage> storage) : node_(std::make_shared<Node>()) {
  if (static_cast<size_t>(numel_of(shape)) * sizeof(float) != storage->bytes())
    throw std::invalid_argument("shape " + shape_str(shape) + " does not match storage of " +
                                std::to_string(storage->bytes() / sizeof(float)) + " values");
  node_->data = std::move(storage);
  node_->shape = std::move(shape);
}

Tensor Tensor::uninitialized(Shape shape, Device device) {
#if GENIE_POISON_UNINITIALIZED
  return Tensor(std::move(shape), std::numeric_limits<float>::quiet_NaN(), device);
#else
  const size_t bytes = static_cast<size_t>(numel_of(shape)) * sizeof(float);
  return Tensor(std::move(shape), std::make_shared<Storage>(device, bytes));
#endif
}

Device same_device(const char* op, const std::vector<Tensor>& inputs) {
  const Tensor* first = nullptr;
  for (const Tensor& t : inputs) {
    if (!t.defined()) continue;
    if (first && t.device() != first->device())
      throw std::invalid_argument(std::string(op) + ": inputs on " + device_name(first->device()) +
                                  " and " + device_name(t.device()) +
                                  "; move them to one device first");
    if (!first) first = &t;
  }
  return first ? first->device() : Device::CPU;
}

bool all_finite(const Tensor& t) {
  auto finite = [](float v) { return std::isfinite(v); };
  if (t.device() == Device::CPU) return std::all_of(t.data(), t.data() + t.numel(), finite);
  const std::vector<float> values = t.values();  // a device's values are read on the host
  return std::all_of(values.begin(), values.end(), finite);
}

int Tensor::size(int dim) const {
  int n = ndim();
  int d = dim < 0 ? dim + n : dim;
  if (d < 0 || d >= n)
    throw std::out_of_range("dim " + std::to_string(dim) + " of shape " + shape_str(shape()));
  return node_->shape[d];
}

float Tensor::item() const {
  if (numel() != 1) throw std::invalid_argument("item() of tensor of shape " + shape_str(shape()));
  float value;
  copy_between(&value, *node_->data, sizeof value);
  return value;
}

const std::vector<float> Tensor::values() const {
  std::vector<float> host(numel());
  copy_between(host.data(), *node_->data, host.size() * sizeof(float));
  return host;
}

void Tensor::set_values(const std::vector<float>& values) {
  if (static_cast<int64_t>(values.size()) != numel())
    throw std::invalid_argument("set_values: " + std::to_string(values.size()) +
                                " values for a tensor of shape " + shape_str(shape()));
  copy_between(*node_->data, values.data(), values.size() * sizeof(float));
}

void Tensor::copy_from(const Tensor& source) {
  if (source.shape() != shape())
    throw std::invalid_argument("copy_from: shape " + shape_str(source.shape()) + " into " +
                                shape_str(shape()));
  copy_between(*node_->data, *source.node_->data, numel() * sizeof(float));
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor moved(shape(), std::make_shared<Storage>(device, numel() * sizeof(float)));
  moved.copy_from(*this);
  return moved;
}

void Tensor::move_to(Device device) {
  if (!defined() || device == this->device()) return;
  Tensor moved = to(device);
  moved.requires_grad_(requires_grad());
  *this = moved;
}

float* Tensor::grad() const {
  if (!node_->grad) node_->grad = float_storage(device(), numel(), 0.0f);
  return node_->grad->as<float>();
}

const std::vector<float> Tensor::grad_values() const {
  if (!node_->grad) return {};
  std::vector<float> host(numel());
  copy_between(host.data(), *node_->grad, host.size() * sizeof(float));
  return host;
}

void Tensor::zero_grad() const { node_->grad.reset(); }

Tensor& Tensor::requires_grad_(bool on) {
  node_->requires_grad = on;
  return *this;
}

Tensor Tensor::detach() const { return Tensor(shape(), node_->data); }

Tensor Tensor::clone() const {
  Tensor copy(shape(), std::make_shared<Storage>(device(), numel() * sizeof(float)));
  copy.copy_from(*this);
  return copy;
}

}  // namespace engine
