// Learning-rate schedules with PyTorch 1.13's semantics (torch.optim.lr_scheduler), acting on
// an Optimizer's `lr`. The caller decides what one step is (an iteration or an epoch) and
// calls step() once per such step, after the optimizer's step, as in PyTorch.
//
// Like PyTorch, a schedule reads the optimizer's lr as its base lr when it is built and leaves
// it unchanged then (step 0). Epoch schedules use their closed forms, so each owns the lr
// outright: they do not compose with another schedule on the same optimizer. Arithmetic is
// in double, as in Python, rounded once to the optimizer's float lr.
//
// state() is a short vector of floats that load_state() restores exactly, for checkpoints.
// The optimizer must outlive its schedule.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/optim.h"

namespace engine {

// A schedule whose lr is a function of the number of steps taken.
class EpochSchedule {
 public:
  explicit EpochSchedule(Optimizer& optimizer);
  virtual ~EpochSchedule() = default;

  void step();
  int64_t epoch() const { return epoch_; }
  float base_lr() const { return base_lr_; }

  std::vector<float> state() const;  // {epoch, base_lr}
  // Also sets the optimizer's lr to the restored step's value.
  void load_state(const std::vector<float>& state);

 protected:
  virtual double lr_at(int64_t epoch) const = 0;

 private:
  Optimizer& optimizer_;
  float base_lr_;
  int64_t epoch_ = 0;
};

// lr = base_lr * gamma^floor(epoch / step_size): multiply by gamma every step_size steps.
class StepLR : public EpochSchedule {
 public:
  StepLR(Optimizer& optimizer, int step_size, double gamma = 0.1);

 protected:
  double lr_at(int64_t epoch) const override;

 private:
  int step_size_;
  double gamma_;
};

// lr = base_lr * gamma^epoch.
class ExponentialLR : public EpochSchedule {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  double lr_at(int64_t epoch) const override;

 private:
  double gamma_;
};

// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2: from base_lr at
// step 0 down to eta_min at step t_max (and back up after it, as PyTorch's closed form does).
class CosineAnnealingLR : public EpochSchedule {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int t_max, double eta_min = 0.0);

 protected:
  double lr_at(int64_t epoch) const override;

 private:
  int t_max_;
  double eta_min_;
};

// PyTorch's defaults with mode 'min', threshold_mode 'rel' and cooldown 0, the only ones here.
struct PlateauOptions {
  double factor = 0.1;      // new lr = old lr * factor, in [0, 1)
  int patience = 10;        // bad steps tolerated before a cut
  double threshold = 1e-4;  // relative: better means metric < best * (1 - threshold)
  double min_lr = 0.0;      // the floor of a cut
  double eps = 1e-8;        // a cut smaller than this is skipped
};

// Cuts the lr when the metric (lower is better) has not improved for more than `patience`
// consecutive steps; the count restarts after every cut, applied or skipped. The metric is a
// float, as PyTorch sees a float32 loss tensor, so threshold decisions match it exactly.
class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, PlateauOptions options = {});

  void step(float metric);
  float best() const { return best_; }
  int num_bad_epochs() const { return num_bad_epochs_; }

  std::vector<float> state() const;  // {best, num_bad_epochs}
  void load_state(const std::vector<float>& state);

 private:
  Optimizer& optimizer_;
  PlateauOptions options_;
  float best_;
  int num_bad_epochs_ = 0;
};

}  // namespace engine
