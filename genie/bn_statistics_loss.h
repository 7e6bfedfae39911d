// GENIE-D's objective (docs/METHOD.md, "Loss"): the statistics of the distilled images, as seen
// at the input of every BatchNorm layer of the frozen network, are pulled towards the running
// statistics that layer stored during training; ZeroQ's input term keeps the images themselves
// at zero mean and unit standard deviation per image and channel.
//
//   l2(a, b)       = ||a - b||^2 / len(b)
//   L_l            = l2(m_l, mu_l) + l2(d_l, sqrt(var_l + 1e-6))      m, d over (N, H, W)
//   input term     = l2(mean_img, 0) + l2(std_img, 1)                 over (H, W), (N, C) values
//   total          = sum_l L_l + input term                           all weights 1
// m and d are the mean and the unbiased standard deviation.
#pragma once

#include <vector>

#include "models/layers.h"

namespace genie {

using engine::Tensor;

// What one BatchNorm layer saw in a forward pass: its input (N, C, H, W).
struct BnObservation {
  const models::BatchNorm2d* bn;
  Tensor input;
};

// sum_l L_l, shape (1).
Tensor bn_statistics_loss(const std::vector<BnObservation>& observed);

// The input term for images (N, C, H, W), shape (1). len(b) is the batch size N here, as in the
// reference code, where b is the (N, C) matrix of per-image statistics.
Tensor input_statistics_loss(const Tensor& images);

}  // namespace genie
