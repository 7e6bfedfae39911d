// Tensor: a float32, contiguous, row-major (N, C, H, W) array with an optional gradient, and the
// node of the autodiff graph that produced it. Its values and its gradient live on one device
// (engine/storage.h); ops run on their inputs' device, and to() moves a tensor between devices
// only at the edges: loading a model, feeding a batch, reading a result, saving.
//
// A Tensor is a cheap handle (a shared pointer to its Node). Copying a Tensor shares the Node.
// Each op builds its output Node and, when gradients are wanted, records the inputs and a
// closure that *adds* d(loss)/d(input) into each input's grad (see autograd.h).
//
// Non-goals: views with arbitrary strides, dtypes other than float32, in-place autodiff.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/storage.h"

namespace engine {

using Shape = std::vector<int>;

int64_t numel_of(const Shape& shape);
std::string shape_str(const Shape& shape);

class Tensor;
// The device of the defined tensors among `inputs`; throws naming `op` when they differ.
Device same_device(const char* op, const std::vector<Tensor>& inputs);
// Whether every value is finite (no NaN, no infinity); a device tensor is read as a host copy.
bool all_finite(const Tensor& t);

struct Node {
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();  // unlinks a long chain of inputs iteratively, so destruction cannot recurse deeply

  Shape shape;
  std::shared_ptr<Storage> data;  // (numel floats) shared by reshape/detach
  std::shared_ptr<Storage> grad;  // (numel floats) on data's device, or null until one arrives
  bool requires_grad = false;
  std::vector<std::shared_ptr<Node>> inputs;  // graph edges, cleared after backward
  std::function<void()> backward;             // adds into the inputs' grads
  bool graph_freed = false;  // a backward pass went through here and freed the edges

  // For backward closures: the output's values and (once backward reaches it) its gradient.
  const float* values() const { return data->as<float>(); }
  const float* gradient() const { return grad->as<float>(); }
  Device device() const { return data->device(); }
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape, float fill = 0.0f, Device device = Device::CPU);
  Tensor(Shape shape, const std::vector<float>& values, Device device = Device::CPU);
  // A tensor sharing `storage` (used by reshape and detach).
  Tensor(Shape shape, std::shared_ptr<Storage> storage);
  // A tensor whose values are not set: an op's output that its kernel overwrites entirely, so
  // that nothing fills it first. (Builds with SANITIZE=1 fill it with NaN: an element that the
  // kernel leaves unwritten then shows in the results.)
  static Tensor uninitialized(Shape shape, Device device = Device::CPU);

  bool defined() const { return node_ != nullptr; }
  const Shape& shape() const { return node_->shape; }
  int ndim() const { return static_cast<int>(node_->shape.size()); }
  int size(int dim) const;  // negative dims count from the end
  int64_t numel() const { return numel_of(node_->shape); }
  Device device() const { return node_->data->device(); }

  // The values on the tensor's device: what kernels read and write.
  float* data() { return node_->data->as<float>(); }
  const float* data() const { return node_->data->as<float>(); }
  // A host copy of the values, from any device (an edge: tests, files, results).
  // (const, so that writing into the copy, a silent no-op, does not compile)
  const std::vector<float> values() const;
  // Overwrites the values with n = numel() host floats, or with another tensor's values.
  void set_values(const std::vector<float>& values);
  void copy_from(const Tensor& source);
  float item() const;  // the value of a one-element tensor, on the host

  // The same values on `device` (this tensor itself when it is there already), no history.
  Tensor to(Device device) const;
  // Rebinds this handle to a copy on `device`, keeping requires_grad: for the leaves a model
  // owns (weights, statistics, quantizer steps), moved before anything else holds them.
  void move_to(Device device);

  // The gradient on the tensor's device, allocated as zeros on first use.
  float* grad() const;  // a handle: const does not protect the node
  bool has_grad() const { return node_->grad != nullptr; }
  const std::vector<float> grad_values() const;  // a host copy; empty without a gradient
  void zero_grad() const;

  bool requires_grad() const { return node_->requires_grad; }
  Tensor& requires_grad_(bool on = true);

  // Reverse-mode pass from this one-element tensor; gradients accumulate into leaves.
  void backward();
  // Same values, no history, shared storage.
  Tensor detach() const;
  // Same values, own storage, no history.
  Tensor clone() const;

  Node* node() const { return node_.get(); }
  const std::shared_ptr<Node>& node_ptr() const { return node_; }

 private:
  std::shared_ptr<Node> node_;
};

}  // namespace engine
