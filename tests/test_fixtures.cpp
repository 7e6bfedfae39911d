// The engine's ops against PyTorch 1.13, replaying tests/fixtures/ops.gwt (written by
// tools/make_fixtures.py): for each case the forward output, the updated batch-norm running
// statistics, and the gradients of sum(y * dy) for every input.
//
// Shapes: x (N, C, H, W) or (N, in); the other tensors as the op takes them (engine/ops.h).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

#include "engine/ops.h"
#include "engine/tensor_file.h"
#include "tests/fixtures.h"

using engine::Tensor;
using engine::TensorFile;

namespace {

// The reference is float64 rounded once; the engine sums in float32 over at most ~150 terms of
// magnitude <= ~1 (a 3x7x7 conv window, a batch-norm channel of 75 values), so its rounding
// error is a few float32 ulps relative to the terms: about 1e-6 absolute. 1e-4 relative leaves
// room for that on values of order 1, and the 1e-5 absolute floor covers outputs near zero,
// where cancellation between terms makes any relative bound meaningless.
constexpr float kRtol = 1e-4f;
constexpr float kAtol = 1e-5f;

const TensorFile& fixtures() {
  static const TensorFile file = engine::read_tensor_file(testing::fixture_path("ops.gwt"));
  return file;
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  std::stringstream list(*fixtures().meta("cases"));
  for (std::string name; std::getline(list, name, ',');) names.push_back(name);
  return names;
}

// One fixture case `<op>.<i>`: its tensors and integer or float arguments.
class Case {
 public:
  explicit Case(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }

  const Tensor* find(const std::string& key) const { return fixtures().tensor(name_ + "." + key); }
  const Tensor& expected(const std::string& key) const {
    const Tensor* t = find(key);
    if (!t) throw std::runtime_error("fixture " + name_ + " lacks tensor " + key);
    return *t;
  }
  std::string arg(const std::string& key) const {
    const std::string* v = fixtures().meta(name_ + "." + key);
    if (!v) throw std::runtime_error("fixture " + name_ + " lacks argument " + key);
    return *v;
  }
  int int_arg(const std::string& key) const { return std::stoi(arg(key)); }
  float float_arg(const std::string& key) const { return std::stof(arg(key)); }

  // Fresh copies of the differentiable inputs: those the fixture has a gradient for.
  std::map<std::string, Tensor> inputs() const {
    std::map<std::string, Tensor> in;
    std::string prefix = name_ + ".grad.";
    for (const auto& [name, t] : fixtures().tensors)
      if (name.compare(0, prefix.size(), prefix) == 0) {
        std::string key = name.substr(prefix.size());
        in[key] = expected(key).clone();
        in[key].requires_grad_();
      }
    return in;
  }

 private:
  std::string name_;
};

Tensor optional(const std::map<std::string, Tensor>& in, const std::string& key) {
  auto it = in.find(key);
  return it == in.end() ? Tensor() : it->second;
}

void check_close(const std::vector<float>& actual, const Tensor& expected,
                 const std::string& what) {
  INFO(what << " " << engine::shape_str(expected.shape()));
  REQUIRE(static_cast<int64_t>(actual.size()) == expected.numel());
  int64_t bad = 0, worst = -1;
  double worst_excess = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    double e = expected.data()[i], a = actual[i];
    double excess = std::abs(a - e) - (kAtol + kRtol * std::abs(e));
    if (!(excess <= 0)) ++bad;  // a NaN counts as wrong
    if (!(excess <= worst_excess)) worst_excess = excess, worst = i;
  }
  INFO(bad << " elements off; worst at " << worst << ": engine "
           << (worst >= 0 ? actual[worst] : 0.0f) << ", PyTorch "
           << (worst >= 0 ? expected.data()[worst] : 0.0f));
  CHECK(bad == 0);
}

void check_tensor(const Tensor& actual, const Tensor& expected, const std::string& what) {
  CHECK(actual.shape() == expected.shape());
  check_close(actual.values(), expected, what);
}

// Runs the op on fresh inputs, compares y, then backpropagates dy and compares the gradients.
template <typename Op>
void replay(const Case& c, Op op) {
  INFO("fixture case " << c.name());
  std::map<std::string, Tensor> in = c.inputs();
  Tensor y = op(in);
  check_tensor(y, c.expected("y"), "output y");
  engine::sum_all(engine::mul(y, c.expected("dy"))).backward();
  for (const auto& [key, x] : in) {
    std::vector<float> grad = x.has_grad() ? x.grad_values() : std::vector<float>(x.numel(), 0.0f);
    check_close(grad, c.expected("grad." + key), "gradient of " + key);
  }
}

// Replays every case of `op_name`; the fixture must hold at least one.
template <typename Op>
void replay_all(const std::string& op_name, Op op) {
  int replayed = 0;
  for (const std::string& name : case_names())
    if (name.compare(0, op_name.size() + 1, op_name + ".") == 0) {
      replay(Case(name), [&](auto& in) { return op(Case(name), in); });
      ++replayed;
    }
  CHECK(replayed > 0);
}

const char* const kOps[] = {
    "conv2d",     "linear",          "batch_norm",         "max_pool2d",
    "avg_pool2d", "global_avg_pool", "upsample_nearest2x", "reflection_pad2d"};

}  // namespace

TEST_CASE("fixtures: every case in ops.gwt belongs to an op replayed here") {
  std::vector<std::string> names = case_names();
  CHECK(names.size() >= 20);
  for (const std::string& name : names) {
    INFO(name);
    std::string op = name.substr(0, name.rfind('.'));
    CHECK(std::find(std::begin(kOps), std::end(kOps), op) != std::end(kOps));
  }
}

TEST_CASE("fixtures: conv2d matches PyTorch") {
  replay_all("conv2d", [](const Case& c, auto& in) {
    return engine::conv2d(in.at("x"), in.at("w"), optional(in, "b"), c.int_arg("stride"),
                          c.int_arg("padding"));
  });
}

TEST_CASE("fixtures: linear matches PyTorch") {
  replay_all("linear", [](const Case&, auto& in) {
    return engine::linear(in.at("x"), in.at("w"), optional(in, "b"));
  });
}

TEST_CASE("fixtures: batch_norm matches PyTorch, running statistics included") {
  replay_all("batch_norm", [](const Case& c, auto& in) {
    engine::BatchNormState state{c.expected("running_mean").clone(),
                                 c.expected("running_var").clone(), c.float_arg("momentum"),
                                 c.float_arg("eps")};
    Tensor y = engine::batch_norm(in.at("x"), optional(in, "gamma"), optional(in, "beta"), state,
                                  c.int_arg("training") != 0);
    check_tensor(state.running_mean, c.expected("running_mean_out"), "running_mean");
    check_tensor(state.running_var, c.expected("running_var_out"), "running_var");
    return y;
  });
}

TEST_CASE("fixtures: max_pool2d, avg_pool2d and global_avg_pool match PyTorch") {
  replay_all("max_pool2d", [](const Case& c, auto& in) {
    return engine::max_pool2d(in.at("x"), c.int_arg("kernel"), c.int_arg("stride"),
                              c.int_arg("padding"));
  });
  replay_all("avg_pool2d", [](const Case& c, auto& in) {
    return engine::avg_pool2d(in.at("x"), c.int_arg("kernel"), c.int_arg("stride"),
                              c.int_arg("padding"));
  });
  replay_all("global_avg_pool",
             [](const Case&, auto& in) { return engine::global_avg_pool(in.at("x")); });
}

TEST_CASE("fixtures: upsample_nearest2x and reflection_pad2d match PyTorch") {
  replay_all("upsample_nearest2x",
             [](const Case&, auto& in) { return engine::upsample_nearest2x(in.at("x")); });
  replay_all("reflection_pad2d", [](const Case& c, auto& in) {
    return engine::reflection_pad2d(in.at("x"), c.int_arg("pad"));
  });
}
