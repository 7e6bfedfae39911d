// Where GENIE-M's calibration images come from: a distilled images file (.gwt, zero-shot) or
// a real dataset SPEC (few-shot / real-data mode: N images of its training split, drawn at
// random with the seed), normalised for the model.
#pragma once

#include <string>

#include "models/resnet.h"

namespace genie {

// Whether `source` names a distilled images file (it ends in .gwt) rather than a dataset SPEC.
bool is_images_file(const std::string& source);

// `source` ending in .gwt is a distilled images file; anything else a dataset SPEC.
engine::Tensor load_calibration(models::ResNet& model, const std::string& source, int num_images,
                                uint64_t seed);

}  // namespace genie
