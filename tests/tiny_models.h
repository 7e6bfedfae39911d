// Tiny ResNets for fast tests: the ResNet-20 topology at width 4 on 8x8 single-channel inputs,
// and random BN statistics and affine parameters, so that BN is not the identity.
#pragma once

#include "engine/rng.h"
#include "models/resnet.h"
#include "tests/edit_values.h"

namespace testing {

inline models::ModelConfig tiny_resnet20(char shortcut = 'A') {
  models::ModelConfig c;
  c.arch = "resnet20";
  c.shortcut = shortcut;
  c.width = 4;
  c.input_size = 8;
  c.in_channels = 1;
  c.mean = {0.5f};
  c.std = {0.25f};
  return c;
}

inline void randomize_batch_norms(models::ResNet& m, uint64_t seed) {
  engine::Rng rng(seed);
  for (models::BatchNorm2d* bn : m.batch_norms()) {
    testing::edit_values(bn->state.running_mean, [&](float) { return rng.uniform(-0.3f, 0.3f); });
    testing::edit_values(bn->state.running_var, [&](float) { return rng.uniform(0.5f, 2.0f); });
    testing::edit_values(bn->weight, [&](float) { return rng.uniform(0.5f, 1.5f); });
    testing::edit_values(bn->bias, [&](float) { return rng.uniform(-0.2f, 0.2f); });
  }
}

}  // namespace testing
