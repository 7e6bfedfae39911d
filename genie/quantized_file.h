// A quantized model in the genie tensor file format (data/FORMAT.md): a real, smaller artifact.
// Besides the model metadata and the tensors that stay float (BatchNorm, biases), it holds per
// quantized layer:
//   <layer>.weight              integer codes packed to their bit width (dtype 1)
//   <layer>.weight_step         (K) float, per output channel
//   <layer>.weight_zero_point   (K) float (integers)
//   <layer>.input_quantizer     (3) float: bits, signed (0/1), step; absent for a float input
// and the metadata keys quantized=1, method, wbits, abits, first_last and skip_input
// (quantized or float; a file without it reads the block input quantized).
#pragma once

#include <memory>
#include <string>

#include "engine/tensor_file.h"
#include "genie/quantized_resnet.h"

namespace genie {

struct LoadedQuantizedModel {
  std::unique_ptr<models::ResNet> model;  // its weights are the dequantized codes
  std::unique_ptr<QuantizedResNet> quantized;
};

bool is_quantized_file(const engine::TensorFile& file);

void save_quantized(const std::string& path, QuantizedResNet& q, const std::string& method);
LoadedQuantizedModel load_quantized(const engine::TensorFile& file, const std::string& origin);

}  // namespace genie
