// GENIE-M's checkpoint: after every unit, quantize() writes where it stands, so that a killed
// quantization goes on from the next unit and ends with the bytes of an uninterrupted run.
//
// The file is a tensor file (data/FORMAT.md), written atomically, beside the quantized output:
//   metadata  kind=quantize-state; the settings that decide the result (method, bits, iters,
//             batch, QDrop, rounding weight, seed) and CRC32s of the model's tensors and of the
//             calibration images; stage and unit (the next to learn); rng (the random stream's
//             state there)
//   tensors   per layer: <layer>.weight_step and <layer>.soft_bits (what reconstruction
//             learns of the weight quantizer), <layer>.input_quantizer (signed, step) once
//             initialised
// The caches are not stored: a resumed run rebuilds X_q by running the finished units again,
// hard-rounded, which draws no random numbers and repeats the same arithmetic.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/rng.h"
#include "genie/quantized_resnet.h"

namespace genie {

struct QuantConfig;

// Where a quantization stands: the next unit to learn in pass `stage` of the method.
struct QuantizePosition {
  int stage = 0, unit = 0;
};

// The settings and inputs a state belongs to, as metadata key/value pairs.
using RunIdentity = std::vector<std::pair<std::string, std::string>>;
RunIdentity run_identity(models::ResNet& model, const Tensor& calibration,
                         const QuantConfig& config);

void save_quantize_state(const std::string& path, QuantizedResNet& q, const RunIdentity& identity,
                         QuantizePosition position, const engine::Rng& rng);
// Restores q's learned quantizers and rng from `path`; refuses (engine::FileError, naming the
// first difference) a state made by another model, other images or other settings.
QuantizePosition load_quantize_state(const std::string& path, QuantizedResNet& q,
                                     const RunIdentity& identity, engine::Rng& rng);

}  // namespace genie
