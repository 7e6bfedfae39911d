// Learning-rate schedules: lr sequences against PyTorch 1.13 (printed by
// tools/make_optim_fixtures.py) and closed forms, Plateau's patience, threshold, min_lr floor
// and eps, and checkpoint state.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/lr_schedule.h"
#include "engine/optim.h"

using engine::Tensor;

namespace {

// The lr before any step, then after each of `steps` steps.
template <typename StepFn>
std::vector<float> lr_sequence(engine::Optimizer& optimizer, int steps, StepFn step) {
  std::vector<float> lrs{optimizer.lr};
  for (int i = 0; i < steps; ++i) {
    step(i);
    lrs.push_back(optimizer.lr);
  }
  return lrs;
}

// The lr is a float: the double value PyTorch prints, rounded once, is within half a float
// ulp (6e-8 relative); 2e-7 allows for pow/cos differing in the last double bit before that.
void check_lrs(const std::vector<float>& actual, const std::vector<double>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    CAPTURE(i);
    CHECK(actual[i] == doctest::Approx(expected[i]).epsilon(2e-7));
  }
}

engine::Sgd make_optimizer(float lr = 0.1f) { return engine::Sgd({Tensor({1})}, lr); }

}  // namespace

TEST_CASE("StepLR multiplies by gamma every step_size steps, as PyTorch") {
  engine::Sgd sgd = make_optimizer();
  engine::StepLR schedule(sgd, 3, 0.5);
  // tools/make_optim_fixtures.py, "StepLR(3, 0.5)".
  check_lrs(lr_sequence(sgd, 10, [&](int) { schedule.step(); }),
            {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125});
  CHECK(schedule.epoch() == 10);
}

TEST_CASE("ExponentialLR multiplies by gamma every step, as PyTorch") {
  engine::Sgd sgd = make_optimizer();
  engine::ExponentialLR schedule(sgd, 0.9);
  // tools/make_optim_fixtures.py, "ExponentialLR(0.9)".
  check_lrs(lr_sequence(sgd, 5, [&](int) { schedule.step(); }),
            {0.1, 0.09, 0.081, 0.0729, 0.06561, 0.059049});
}

TEST_CASE("CosineAnnealingLR runs from base_lr through the midpoint to eta_min, as PyTorch") {
  engine::Sgd sgd = make_optimizer();
  engine::CosineAnnealingLR schedule(sgd, 10, 0.001);
  std::vector<float> lrs = lr_sequence(sgd, 10, [&](int) { schedule.step(); });
  // tools/make_optim_fixtures.py, "CosineAnnealingLR(10, 0.001)".
  check_lrs(lrs, {0.1, 0.0975772976, 0.0905463412, 0.07959537, 0.0657963412, 0.0505, 0.0352036588,
                  0.02140463, 0.0104536588, 0.00342270244, 0.001});
  // Endpoints and midpoint from the formula: cos 0 = 1, cos pi/2 = 0, cos pi = -1.
  CHECK(lrs[0] == 0.1f);
  CHECK(lrs[5] == doctest::Approx(0.001 + 0.099 / 2).epsilon(1e-7));
  CHECK(lrs[10] == doctest::Approx(0.001).epsilon(1e-7));
}

TEST_CASE("ReduceLROnPlateau: patience, relative threshold and min_lr floor, as PyTorch") {
  engine::Sgd sgd = make_optimizer();
  engine::ReduceLROnPlateau schedule(sgd, {0.5, 2, 0.0625, 0.02});
  std::vector<float> metrics = {1.0f, 0.9375f, 0.9375f, 0.875f, 0.85f};
  metrics.resize(20, 0.5f);
  // tools/make_optim_fixtures.py, "ReduceLROnPlateau(factor=0.5, patience=2, threshold=0.0625,
  // min_lr=0.02)". Better means below best * 0.9375: 0.9375 after 1.0 sits exactly on the
  // boundary and is bad; 0.875 is better; 0.85 is not better than 0.875 * 0.9375 = 0.8203125;
  // 0.5 is. Each cut comes on the third bad step after the count restarts, and the cuts stop at
  // min_lr.
  check_lrs(lr_sequence(sgd, 20, [&](int i) { schedule.step(metrics[i]); }),
            {0.1,  0.1,   0.1,   0.1,   0.1,  0.1,  0.1,  0.1,  0.1,  0.05, 0.05,
             0.05, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02});
  CHECK(schedule.best() == 0.5f);
}

TEST_CASE("ReduceLROnPlateau skips a cut smaller than eps, as PyTorch") {
  engine::Sgd sgd = make_optimizer(1e-7f);
  engine::ReduceLROnPlateau schedule(sgd, {0.1, 0});
  // tools/make_optim_fixtures.py, "ReduceLROnPlateau(factor=0.1, patience=0) from lr=1e-7":
  // 1e-7 -> 1e-8 changes by 9e-8 > eps; 1e-8 -> 1e-9 by 9e-9 < eps = 1e-8, so it is skipped.
  check_lrs(lr_sequence(sgd, 4, [&](int) { schedule.step(1.0f); }),
            {1e-07, 1e-07, 1e-08, 1e-08, 1e-08});
  CHECK(schedule.num_bad_epochs() == 0);  // reset even when the cut is skipped
}

TEST_CASE("ReduceLROnPlateau counts bad steps and resets on improvement") {
  engine::Sgd sgd = make_optimizer();
  engine::ReduceLROnPlateau schedule(sgd, {0.1, 3});
  schedule.step(1.0f);
  CHECK(schedule.num_bad_epochs() == 0);
  schedule.step(1.0f);
  schedule.step(0.99995f);  // within the default relative threshold 1e-4: still bad
  CHECK(schedule.num_bad_epochs() == 2);
  schedule.step(0.5f);
  CHECK(schedule.num_bad_epochs() == 0);
  CHECK(schedule.best() == 0.5f);
  schedule.step(NAN);  // a NaN metric is never better
  CHECK(schedule.num_bad_epochs() == 1);
  CHECK(sgd.lr == 0.1f);
}

TEST_CASE("schedule state restores the lr sequence exactly") {
  engine::Sgd sgd = make_optimizer();
  engine::CosineAnnealingLR schedule(sgd, 7, 0.01);
  for (int i = 0; i < 3; ++i) schedule.step();
  std::vector<float> saved = schedule.state();
  CHECK(saved == std::vector<float>{3.0f, 0.1f});
  schedule.step();
  float next = sgd.lr;

  engine::Sgd resumed_sgd = make_optimizer(0.5f);
  engine::CosineAnnealingLR resumed(resumed_sgd, 7, 0.01);
  resumed.load_state(saved);
  CHECK(resumed_sgd.lr == doctest::Approx(0.01 + 0.09 * (1 + std::cos(M_PI * 3 / 7)) / 2));
  resumed.step();
  CHECK(resumed_sgd.lr == next);

  engine::Sgd plateau_sgd = make_optimizer();
  engine::ReduceLROnPlateau plateau(plateau_sgd, {0.5, 2});
  plateau.step(1.0f);
  plateau.step(2.0f);
  engine::ReduceLROnPlateau restored(plateau_sgd, {0.5, 2});
  restored.load_state(plateau.state());
  CHECK(restored.best() == 1.0f);
  CHECK(restored.num_bad_epochs() == 1);
  restored.step(2.0f);
  restored.step(2.0f);
  CHECK(plateau_sgd.lr == 0.05f);  // the restored count reached patience + 1
}

TEST_CASE("schedules reject bad arguments and bad state") {
  engine::Sgd sgd = make_optimizer();
  CHECK_THROWS_AS(engine::StepLR(sgd, 0), std::invalid_argument);
  CHECK_THROWS_AS(engine::CosineAnnealingLR(sgd, 0), std::invalid_argument);
  CHECK_THROWS_AS(engine::ReduceLROnPlateau(sgd, {1.0}), std::invalid_argument);
  CHECK_THROWS_AS(engine::ReduceLROnPlateau(sgd, {0.1, -1}), std::invalid_argument);
  engine::StepLR step(sgd, 2);
  CHECK_THROWS_AS(step.load_state({1.0f}), std::invalid_argument);
  CHECK_THROWS_AS(step.load_state({1.5f, 0.1f}), std::invalid_argument);
  CHECK_THROWS_AS(step.load_state({-1.0f, 0.1f}), std::invalid_argument);
  engine::ReduceLROnPlateau plateau(sgd);
  CHECK_THROWS_AS(plateau.load_state({1.0f, 0.5f}), std::invalid_argument);
  CHECK(sgd.lr == 0.1f);
}
