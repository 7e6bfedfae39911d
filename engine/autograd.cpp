// Grad mode, op recording and the backward pass; see autograd.h.
#include "engine/autograd.h"

#include <stdexcept>
#include <unordered_set>
#include <utility>

namespace engine {

namespace {
thread_local bool g_grad_enabled = true;

// Nodes in an order where every node comes after all of its inputs (iterative DFS, so deep
// graphs cannot overflow the stack; inputs visited in argument order, so it is deterministic).
std::vector<std::shared_ptr<Node>> topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> visited;  // membership only: never iterated
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack{{root, 0}};
  visited.insert(root.get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      std::shared_ptr<Node> in = node->inputs[next++];
      if (in->requires_grad && visited.insert(in.get()).second) stack.push_back({in, 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  return order;
}
}  // namespace

bool grad_enabled() { return g_grad_enabled; }

NoGrad::NoGrad() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGrad::~NoGrad() { g_grad_enabled = previous_; }

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(Tensor& out, const std::vector<Tensor>& inputs, std::function<void()> backward) {
  if (!needs_grad(inputs)) return;
  Node* node = out.node();
  node->requires_grad = true;
  for (const Tensor& t : inputs)
    if (t.defined()) node->inputs.push_back(t.node_ptr());
  node->backward = std::move(backward);
}

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

float* grad_or_null(const Tensor& t) {
  return t.defined() && t.requires_grad() ? t.grad() : nullptr;
}

void Tensor::backward() {
  if (numel() != 1)
    throw std::invalid_argument("backward() needs a one-element loss, got shape " +
                                shape_str(shape()));
  if (!requires_grad()) throw std::logic_error("backward() on a tensor that requires no grad");
  if (node()->graph_freed)
    throw std::logic_error("backward() twice through the same graph: run the forward again");
  // Every node, in order; each is let go once its backward has run.
  std::vector<std::shared_ptr<Node>> order = topological_order(node_ptr());
  std::vector<float> seed = has_grad() ? grad_values() : std::vector<float>{0.0f};
  seed[0] += 1.0f;  // d loss / d loss, added to what a gradient may already hold
  grad();
  copy_between(*node()->grad, seed.data(), sizeof(float));
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = it->get();
    if (!n->backward) continue;  // a leaf: its grad is the result
    if (n->grad) n->backward();
    // Every consumer of n has run, so nothing needs n any more: as in PyTorch, its gradient, its
    // saved tensors (held by the closure) and, unless the caller holds it, its values are freed
    // now, which keeps the backward's peak memory near the forward's. Its edges go first, so
    // that freeing it never recurses down a long graph.
    n->grad.reset();
    n->graph_freed = true;
    n->backward = nullptr;
    n->inputs.clear();
    it->reset();
  }
}

}  // namespace engine
