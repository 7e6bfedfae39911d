// Loading and saving ResNets in the genie tensor file format (data/FORMAT.md).
//
// A load is all or nothing: the metadata must describe a valid architecture, and every tensor
// that architecture has must be present with its exact shape, and nothing else; otherwise a
// FileError names the file and the offending key or tensor.
#pragma once

#include <string>

#include "engine/tensor_file.h"
#include "models/resnet.h"

namespace models {

// `origin` names the file in error messages.
ResNet model_from_file(const engine::TensorFile& file, const std::string& origin);
engine::TensorFile model_to_file(ResNet& model);

ResNet load_model(const std::string& path);
void save_model(const std::string& path, ResNet& model);

// The model compiled into the binary (data/default.gw): a ResNet-20 trained on Fashion-MNIST.
ResNet default_model();
// A path, or "" for the embedded default.
ResNet load_model_or_default(const std::string& path);

}  // namespace models
