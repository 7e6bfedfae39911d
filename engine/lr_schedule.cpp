// Learning-rate schedules: the closed forms of StepLR, ExponentialLR and CosineAnnealingLR, and
// the bookkeeping of ReduceLROnPlateau, following torch/optim/lr_scheduler.py (PyTorch 1.13).
#include "engine/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace engine {

namespace {

void check_state_size(const char* schedule, const std::vector<float>& state, size_t expected) {
  if (state.size() != expected)
    throw std::invalid_argument(std::string(schedule) + " state: expected " +
                                std::to_string(expected) + " values, got " +
                                std::to_string(state.size()));
}

// Counts are stored as floats; they must come back as whole numbers.
int64_t whole_count(const char* what, float value) {
  if (!(value >= 0.0f) || value != std::floor(value) || value > 16777216.0f)
    throw std::invalid_argument(std::string(what) + " must be a whole number in [0, 2^24], got " +
                                std::to_string(value));
  return static_cast<int64_t>(value);
}

}  // namespace

EpochSchedule::EpochSchedule(Optimizer& optimizer)
    : optimizer_(optimizer), base_lr_(optimizer.lr) {}

void EpochSchedule::step() {
  ++epoch_;
  optimizer_.lr = static_cast<float>(lr_at(epoch_));
}

std::vector<float> EpochSchedule::state() const { return {static_cast<float>(epoch_), base_lr_}; }

void EpochSchedule::load_state(const std::vector<float>& state) {
  check_state_size("schedule", state, 2);
  int64_t epoch = whole_count("schedule state: epoch", state[0]);
  if (!(state[1] >= 0.0f) || std::isinf(state[1]))
    throw std::invalid_argument("schedule state: base lr must be finite and >= 0, got " +
                                std::to_string(state[1]));
  epoch_ = epoch;
  base_lr_ = state[1];
  optimizer_.lr = static_cast<float>(lr_at(epoch_));
}

StepLR::StepLR(Optimizer& optimizer, int step_size, double gamma)
    : EpochSchedule(optimizer), step_size_(step_size), gamma_(gamma) {
  if (step_size <= 0)
    throw std::invalid_argument("StepLR: step_size must be > 0, got " + std::to_string(step_size));
}

double StepLR::lr_at(int64_t epoch) const {
  return base_lr() * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : EpochSchedule(optimizer), gamma_(gamma) {}

double ExponentialLR::lr_at(int64_t epoch) const {
  return base_lr() * std::pow(gamma_, static_cast<double>(epoch));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int t_max, double eta_min)
    : EpochSchedule(optimizer), t_max_(t_max), eta_min_(eta_min) {
  if (t_max <= 0)
    throw std::invalid_argument("CosineAnnealingLR: t_max must be > 0, got " +
                                std::to_string(t_max));
}

double CosineAnnealingLR::lr_at(int64_t epoch) const {
  return eta_min_ + (base_lr() - eta_min_) *
                        (1.0 + std::cos(M_PI * static_cast<double>(epoch) / t_max_)) / 2.0;
}

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, PlateauOptions options)
    : optimizer_(optimizer), options_(options), best_(std::numeric_limits<float>::infinity()) {
  if (!(options.factor >= 0.0 && options.factor < 1.0))
    throw std::invalid_argument("ReduceLROnPlateau: factor must lie in [0, 1), got " +
                                std::to_string(options.factor));
  if (options.patience < 0)
    throw std::invalid_argument("ReduceLROnPlateau: patience must be >= 0, got " +
                                std::to_string(options.patience));
}

void ReduceLROnPlateau::step(float metric) {
  // A NaN metric compares false, so it counts as a bad step, as in PyTorch.
  if (static_cast<double>(metric) < static_cast<double>(best_) * (1.0 - options_.threshold)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (num_bad_epochs_ <= options_.patience) return;
  double old_lr = optimizer_.lr;
  double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
  if (old_lr - new_lr > options_.eps) optimizer_.lr = static_cast<float>(new_lr);
  num_bad_epochs_ = 0;
}

std::vector<float> ReduceLROnPlateau::state() const {
  return {best_, static_cast<float>(num_bad_epochs_)};
}

void ReduceLROnPlateau::load_state(const std::vector<float>& state) {
  check_state_size("ReduceLROnPlateau", state, 2);
  num_bad_epochs_ = static_cast<int>(whole_count("ReduceLROnPlateau state: bad steps", state[1]));
  best_ = state[0];
}

}  // namespace engine
