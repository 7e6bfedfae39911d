// A contact sheet of distilled images: a PNG grid a person can look at to see what the network
// "sees". Images are de-normalised with the model's mean/std (x * std + mean), clamped to
// [0, 1] and enlarged (nearest neighbour) to at least 64 pixels a side.
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace genie {

// images (N, C, S, S) with C = 1 or 3; at most `max_images` are drawn. Throws
// engine::FileError naming the path when it cannot be written.
void write_contact_sheet(const std::string& path, const engine::Tensor& images,
                         const std::vector<float>& mean, const std::vector<float>& std,
                         int max_images = 64);

}  // namespace genie
