// Swing convolution (docs/METHOD.md, "Swing convolution"; distillation only). A conv with
// stride != 1 sees only every other pixel, and the distilled images learn a checkerboard to
// please it. Swing conv shifts its input by a random offset first: reflect-pad by 1 pixel,
// crop back to H x W at (dy, dx), dy and dx uniform in {0, 1, 2}, one draw per layer per
// forward pass shared by the batch; then the conv runs unchanged. Offset (1, 1) is no shift.
#pragma once

#include "engine/rng.h"
#include "models/layers.h"

namespace genie {

using engine::Tensor;

// x (N, C, H, W) shifted: reflect-pad 1, then crop H x W at (dy, dx), dy, dx in {0, 1, 2}.
Tensor swing_shift(const Tensor& x, int dy, int dx);

// The conv, behind a random swing shift when its stride is not 1.
Tensor swing_conv(const models::Conv2d& conv, const Tensor& x, engine::Rng& rng);

}  // namespace genie
