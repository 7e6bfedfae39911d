// Adam and SGD: three-step trajectories against PyTorch 1.13 (numbers printed by
// tools/make_optim_fixtures.py) and against an independent double-precision reference written
// from the textbook formulas; skipped parameters, zero_grad, and checkpoint state.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/lr_schedule.h"
#include "engine/ops.h"
#include "engine/optim.h"

using engine::Tensor;

namespace {

// The inputs of tools/make_optim_fixtures.py: p is (2, 3); q (2) gets no grad at step 2.
const std::vector<float> kParam = {0.5f, -1.25f, 2.0f, 0.0f, -0.75f, 3.0f};
const std::vector<float> kQ = {1.0f, -2.0f};
const std::vector<std::vector<float>> kGrads = {
    {0.1f, -0.2f, 0.3f, -0.4f, 0.5f, -0.6f},
    {-1.0f, 0.5f, 0.25f, 2.0f, -0.125f, 0.0f},
    {0.3f, 0.3f, -0.3f, -0.3f, 1e-3f, 4.0f},
};
std::vector<float> q_grad(int step) { return {kGrads[step][0], kGrads[step][5]}; }

// Three steps of float32 updates on values of order 1: each op rounds by half an ulp (6e-8)
// and a step has about ten of them, so 1e-6 leaves room for accumulation but catches any
// wrong formula (a wrong bias correction or decay moves values by 1e-3 or more).
constexpr double kTol = 1e-6;

void check_close(const std::vector<float>& actual, const std::vector<double>& expected,
                 double tol) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    CAPTURE(i);
    CHECK(std::fabs(actual[i] - expected[i]) <= tol);
  }
}

struct Params {
  Tensor p{{2, 3}, kParam};
  Tensor q{{2}, kQ};
};

// Sets the grads of step `step` (0-based) as the fixture script does: q has none at step 1.
void set_grads(Params& ps, int step) {
  ps.p.zero_grad();
  ps.q.zero_grad();
  std::copy(kGrads[step].begin(), kGrads[step].end(), ps.p.grad());
  if (step != 1) {
    std::vector<float> g = q_grad(step);
    std::copy(g.begin(), g.end(), ps.q.grad());
  }
}

// Textbook Adam in double: p -= lr * m_hat / (sqrt(v_hat) + eps), bias-corrected moments.
struct ReferenceAdam {
  ReferenceAdam(double lr, double weight_decay) : lr(lr), weight_decay(weight_decay) {}
  double lr, weight_decay, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  std::vector<double> m, v;
  int t = 0;
  void step(std::vector<double>& p, const std::vector<float>& grad) {
    if (m.empty()) m.assign(p.size(), 0.0), v.assign(p.size(), 0.0);
    ++t;
    for (size_t i = 0; i < p.size(); ++i) {
      double g = grad[i] + weight_decay * p[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      double m_hat = m[i] / (1 - std::pow(beta1, t));
      double v_hat = v[i] / (1 - std::pow(beta2, t));
      p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
};

// Heavy-ball SGD in double: buf = g (first step) or momentum * buf + g; p -= lr * buf.
struct ReferenceSgd {
  ReferenceSgd(double lr, double momentum, double weight_decay)
      : lr(lr), momentum(momentum), weight_decay(weight_decay) {}
  double lr, momentum, weight_decay;
  std::vector<double> buf;
  void step(std::vector<double>& p, const std::vector<float>& grad) {
    std::vector<double> g(p.size());
    for (size_t i = 0; i < p.size(); ++i) g[i] = grad[i] + weight_decay * p[i];
    if (momentum != 0.0) {
      if (buf.empty())
        buf = g;
      else
        for (size_t i = 0; i < p.size(); ++i) buf[i] = momentum * buf[i] + g[i];
      g = buf;
    }
    for (size_t i = 0; i < p.size(); ++i) p[i] -= lr * g[i];
  }
};

std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Runs the three fixture steps on `optimizer` and on double references of p and q, checking
// both after every step.
template <typename Reference>
void check_against_reference(engine::Optimizer& optimizer, Params& ps, Reference ref_p,
                             Reference ref_q) {
  std::vector<double> p = widen(kParam), q = widen(kQ);
  for (int step = 0; step < 3; ++step) {
    CAPTURE(step);
    set_grads(ps, step);
    optimizer.step();
    ref_p.step(p, kGrads[step]);
    if (step != 1) ref_q.step(q, q_grad(step));
    check_close(ps.p.values(), p, kTol);
    check_close(ps.q.values(), q, kTol);
  }
}

// Runs the three fixture steps and returns p and q after each.
std::vector<std::vector<float>> run_fixture(engine::Optimizer& optimizer, Params& ps) {
  std::vector<std::vector<float>> trajectory;
  for (int step = 0; step < 3; ++step) {
    set_grads(ps, step);
    optimizer.step();
    trajectory.push_back(ps.p.values());
    trajectory.push_back(ps.q.values());
  }
  return trajectory;
}

void check_trajectory(const std::vector<std::vector<float>>& actual,
                      const std::vector<std::vector<double>>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    CAPTURE(i);
    check_close(actual[i], expected[i], kTol);
  }
}

}  // namespace

TEST_CASE("Adam matches PyTorch 1.13 over three steps, with and without weight decay") {
  {
    Params ps;
    engine::Adam adam({ps.p, ps.q}, 0.1f);
    // tools/make_optim_fixtures.py, "adam lr=0.1": p then q after steps 1, 2, 3.
    check_trajectory(
        run_fixture(adam, ps),
        {{0.400000006, -1.14999998, 1.89999998, 0.100000001, -0.849999964, 3.0999999},
         {0.899999976, -1.89999998},
         {0.467380732, -1.1942215, 1.8008827, 0.0401645824, -0.896946788, 3.16700578},
         {0.899999976, -1.89999998},
         {0.499006897, -1.25518203, 1.77907825, 0.00370532647, -0.933360815, 3.11150575},
         {0.808221877, -1.96365643}});
  }
  {
    Params ps;
    engine::Adam adam({ps.p, ps.q}, 0.01f, {0.9, 0.999, 1e-8, 0.1});
    // tools/make_optim_fixtures.py, "adam lr=0.01 wd=0.1".
    check_trajectory(
        run_fixture(adam, ps),
        {{0.49000001, -1.24000001, 1.99000001, 0.00999999978, -0.75999999, 3.00999999},
         {0.99000001, -1.99000001},
         {0.496307135, -1.24125051, 1.98004234, 0.00401568739, -0.762874007, 3.00945711},
         {0.99000001, -1.99000001},
         {0.49870792, -1.24429417, 1.97339165, 0.000367340166, -0.764056563, 3.00305867},
         {0.980345547, -1.99590266}});
  }
}

TEST_CASE("Adam agrees with a textbook double-precision Adam") {
  // Step 1 by hand, for p[0]: g = 0.1, m = 0.01, v = 1e-5; m_hat = 0.1, v_hat = 0.01, so
  // p = 0.5 - 0.1 * 0.1 / (0.1 + 1e-8) = 0.4 (Adam's first step is lr * sign(g)).
  for (double weight_decay : {0.0, 0.1}) {
    CAPTURE(weight_decay);
    Params ps;
    engine::Adam adam({ps.p, ps.q}, 0.1f, {0.9, 0.999, 1e-8, weight_decay});
    set_grads(ps, 0);
    adam.step();
    if (weight_decay == 0.0) CHECK(ps.p.data()[0] == doctest::Approx(0.4).epsilon(1e-6));
    Params fresh;
    engine::Adam adam_fresh({fresh.p, fresh.q}, 0.1f, {0.9, 0.999, 1e-8, weight_decay});
    check_against_reference(adam_fresh, fresh, ReferenceAdam{0.1, weight_decay},
                            ReferenceAdam{0.1, weight_decay});
  }
}

TEST_CASE("SGD with momentum and weight decay matches PyTorch 1.13 and a double reference") {
  {
    Params ps;
    engine::Sgd sgd({ps.p, ps.q}, 0.05f, {0.9, 0.1});
    // Step 1 by hand, p[0]: g = 0.1 + 0.1 * 0.5 = 0.15, buf = 0.15, p = 0.5 - 0.05 * 0.15 =
    // 0.4925. tools/make_optim_fixtures.py, "sgd lr=0.05 momentum=0.9 wd=0.1":
    check_trajectory(
        run_fixture(sgd, ps),
        {{0.492500007, -1.23374999, 1.97500002, 0.0200000014, -0.77125001, 3.0150001},
         {0.99000001, -1.96000004},
         {0.533287525, -1.23795629, 1.930125, -0.0621000044, -0.780268788, 3.01342511},
         {0.99000001, -1.96000004},
         {0.552329838, -1.25055218, 1.89508688, -0.120679505, -0.784534335, 2.79694057},
         {0.961050034, -2.11420012}});
  }
  {
    Params ps;
    engine::Sgd sgd({ps.p, ps.q}, 0.05f);
    // tools/make_optim_fixtures.py, "sgd lr=0.05" (no momentum, no decay).
    check_trajectory(
        run_fixture(sgd, ps),
        {{0.495000005, -1.24000001, 1.98500001, 0.0200000014, -0.774999976, 3.02999997},
         {0.995000005, -1.97000003},
         {0.545000017, -1.26499999, 1.97249997, -0.0799999982, -0.768749952, 3.02999997},
         {0.995000005, -1.97000003},
         {0.530000031, -1.27999997, 1.98749995, -0.0649999976, -0.768799961, 2.82999992},
         {0.980000019, -2.17000008}});
  }
  for (double momentum : {0.0, 0.9}) {
    CAPTURE(momentum);
    Params ps;
    engine::Sgd sgd({ps.p, ps.q}, 0.05f, {momentum, 0.1});
    check_against_reference(sgd, ps, ReferenceSgd{0.05, momentum, 0.1},
                            ReferenceSgd{0.05, momentum, 0.1});
  }
}

TEST_CASE("a parameter without a grad is left alone and zero_grad clears grads") {
  Params ps;
  engine::Adam adam({ps.p, ps.q}, 0.1f);
  set_grads(ps, 1);  // q has no grad at this step
  REQUIRE_FALSE(ps.q.has_grad());
  adam.step();
  CHECK(ps.q.values() == kQ);
  CHECK(ps.p.values() != kParam);

  adam.zero_grad();
  CHECK_FALSE(ps.p.has_grad());
  CHECK_FALSE(ps.q.has_grad());
  std::vector<float> before = ps.p.values();
  adam.step();
  CHECK(ps.p.values() == before);
}

TEST_CASE("the lr member is read at every step") {
  Params ps;
  engine::Sgd sgd({ps.p}, 0.05f);
  sgd.lr = 0.5f;
  set_grads(ps, 0);
  sgd.step();
  // 0.5 - 0.5 * 0.1
  CHECK(ps.p.data()[0] == doctest::Approx(0.45).epsilon(1e-7));
}

TEST_CASE("restoring optimizer state resumes bit for bit") {
  auto resume_matches = [](auto make_optimizer) {
    Params straight;
    auto opt = make_optimizer(straight);
    for (int step = 0; step < 2; ++step) set_grads(straight, step), opt.step();
    engine::NamedTensors saved = opt.state();
    Params resumed;
    resumed.p.copy_from(straight.p);
    resumed.q.copy_from(straight.q);
    opt.lr = 0.125f;  // lr is part of the state: the resumed run inherits it
    auto opt2 = make_optimizer(resumed);
    opt2.load_state(opt.state());
    CHECK(opt2.lr == 0.125f);
    opt2.load_state(saved);
    opt.lr = opt2.lr;
    set_grads(straight, 2), opt.step();
    set_grads(resumed, 2), opt2.step();
    CHECK(resumed.p.values() == straight.p.values());
    CHECK(resumed.q.values() == straight.q.values());
  };
  resume_matches([](Params& ps) { return engine::Adam({ps.p, ps.q}, 0.1f); });
  resume_matches([](Params& ps) { return engine::Sgd({ps.p, ps.q}, 0.05f, {0.9, 0.1}); });
}

TEST_CASE("state names the per-parameter tensors; bad state is rejected untouched") {
  Params ps;
  engine::Adam adam({ps.p, ps.q}, 0.1f);
  set_grads(ps, 0);
  adam.step();
  engine::NamedTensors state = adam.state();
  REQUIRE(state.size() == 7);
  CHECK(state[0].first == "lr");
  CHECK(state[1].first == "adam.step.0");
  CHECK(state[1].second.item() == 1.0f);
  CHECK(state[2].first == "adam.m.0");
  CHECK(state[2].second.data()[0] == doctest::Approx(0.01).epsilon(1e-6));  // (1 - 0.9) * 0.1
  CHECK(state[3].first == "adam.v.0");
  CHECK(state[3].second.data()[0] == doctest::Approx(1e-5).epsilon(1e-5));  // 0.001 * 0.1^2

  engine::NamedTensors wrong_shape = state;
  wrong_shape[2].second = Tensor({3, 2});
  CHECK_THROWS_AS(adam.load_state(wrong_shape), std::invalid_argument);
  engine::NamedTensors missing(state.begin(), state.end() - 1);
  CHECK_THROWS_AS(adam.load_state(missing), std::invalid_argument);
  engine::NamedTensors fractional_step = state;
  fractional_step[1].second = Tensor({1}, 1.5f);
  CHECK_THROWS_AS(adam.load_state(fractional_step), std::invalid_argument);
  CHECK(adam.state()[2].second.values() == state[2].second.values());

  engine::Sgd sgd({ps.p, ps.q}, 0.1f, {0.9, 0.0});
  CHECK(sgd.state().size() == 1);  // no momentum buffers before the first step
  set_grads(ps, 1);
  sgd.step();
  CHECK(sgd.state().size() == 2);  // p has a grad, q does not
  engine::NamedTensors sgd_state = sgd.state();
  sgd_state[1].second = Tensor({6});
  CHECK_THROWS_AS(sgd.load_state(sgd_state), std::invalid_argument);
}

TEST_CASE("optimizers reject invalid hyperparameters") {
  Tensor p({2});
  CHECK_THROWS_AS(engine::Adam({p}, -1.0f), std::invalid_argument);
  CHECK_THROWS_AS(engine::Adam({p}, 0.1f, {1.0, 0.999}), std::invalid_argument);
  CHECK_THROWS_AS(engine::Adam({p}, 0.1f, {0.9, -0.1}), std::invalid_argument);
  CHECK_THROWS_AS(engine::Adam({p}, 0.1f, {0.9, 0.999, 1e-8, -1.0}), std::invalid_argument);
  CHECK_THROWS_AS(engine::Sgd({p}, 0.1f, {-0.5, 0.0}), std::invalid_argument);
  CHECK_THROWS_AS(engine::Sgd({Tensor()}, 0.1f), std::invalid_argument);
}

TEST_CASE("SGD and Adam minimise a quadratic through autograd") {
  const Tensor target({2, 3}, {1.0f, -2.0f, 0.5f, 3.0f, 0.0f, -1.5f});
  auto loss_of = [&](const Tensor& p) {
    Tensor d = engine::sub(p, target);
    return engine::sum_all(engine::mul(d, d));
  };
  {
    Tensor p({2, 3}, 0.0f);
    p.requires_grad_();
    engine::Sgd sgd({p}, 0.1f);
    // Each step maps p - t to 0.8 (p - t): 100 steps shrink an error of 3 below 1e-9.
    for (int i = 0; i < 100; ++i) sgd.zero_grad(), loss_of(p).backward(), sgd.step();
    for (int i = 0; i < 6; ++i) CHECK(p.data()[i] == doctest::Approx(target.data()[i]));
  }
  {
    Tensor p({2, 3}, 0.0f);
    p.requires_grad_();
    engine::Adam adam({p}, 0.1f);
    engine::CosineAnnealingLR schedule(adam, 300);
    for (int i = 0; i < 300; ++i)
      adam.zero_grad(), loss_of(p).backward(), adam.step(), schedule.step();
    // Adam's steps are about lr in size, and the annealed lr ends near 0: what is left is
    // small beside the distance of 3 travelled.
    for (int i = 0; i < 6; ++i) CHECK(std::fabs(p.data()[i] - target.data()[i]) < 1e-3);
  }
}
