// Tensor: a float32, contiguous, row-major (N, C, H, W) array with an optional gradient, and the
// node of the autodiff graph that produced it.
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

namespace engine {

using Shape = std::vector<int>;

// Where a tensor's values live. Only CPU runs here; the tag lets a CUDA backend slot in.
enum class Device { CPU, CUDA };

int64_t numel_of(const Shape& shape);
std::string shape_str(const Shape& shape);

struct Node {
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();  // unlinks a long chain of inputs iteratively, so destruction cannot recurse deeply

  Shape shape;
  Device device = Device::CPU;
  std::shared_ptr<std::vector<float>> data;  // (numel) shared by reshape/detach
  std::vector<float> grad;                   // (numel) or empty until a gradient arrives
  bool requires_grad = false;
  std::vector<std::shared_ptr<Node>> inputs;  // graph edges, cleared after backward
  std::function<void()> backward;             // adds into the inputs' grads
  bool graph_freed = false;  // a backward pass went through here and freed the edges
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape, float fill = 0.0f);
  Tensor(Shape shape, std::vector<float> values);
  // A tensor sharing `storage` (used by reshape and detach).
  Tensor(Shape shape, std::shared_ptr<std::vector<float>> storage);

  bool defined() const { return node_ != nullptr; }
  const Shape& shape() const { return node_->shape; }
  int ndim() const { return static_cast<int>(node_->shape.size()); }
  int size(int dim) const;  // negative dims count from the end
  int64_t numel() const { return static_cast<int64_t>(node_->data->size()); }
  Device device() const { return node_->device; }

  float* data() { return node_->data->data(); }
  const float* data() const { return node_->data->data(); }
  std::vector<float>& values() { return *node_->data; }
  const std::vector<float>& values() const { return *node_->data; }
  float item() const;  // the value of a one-element tensor

  // The gradient, allocated as zeros on first use.
  float* grad() const;  // a handle: const does not protect the node
  bool has_grad() const { return !node_->grad.empty(); }
  const std::vector<float>& grad_values() const { return node_->grad; }
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
