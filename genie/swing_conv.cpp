// Swing convolution; see swing_conv.h.
#include "genie/swing_conv.h"

#include <stdexcept>
#include <string>

namespace genie {

Tensor swing_shift(const Tensor& x, int dy, int dx) {
  if (dy < 0 || dy > 2 || dx < 0 || dx > 2)
    throw std::invalid_argument("swing offsets must be in {0, 1, 2}, got (" + std::to_string(dy) +
                                ", " + std::to_string(dx) + ")");
  return engine::crop2d(engine::reflection_pad2d(x, 1), dy, dx, x.size(2), x.size(3));
}

Tensor swing_conv(const models::Conv2d& conv, const Tensor& x, engine::Rng& rng) {
  if (conv.stride == 1) return models::run(conv, x);
  int dx = rng.integer(3);  // drawn x first, as the reference does
  int dy = rng.integer(3);
  return models::run(conv, swing_shift(x, dy, dx));
}

}  // namespace genie
