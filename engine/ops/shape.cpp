// Shape ops: reshape and flatten share the input's storage; the gradient is copied back
// element for element because the layout does not change.
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace engine {

Tensor reshape(const Tensor& x, const Shape& shape) {
  Shape s = shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t d = 0; d < s.size(); ++d) {
    if (s[d] == -1) {
      if (infer >= 0) throw std::invalid_argument("reshape with more than one -1");
      infer = static_cast<int>(d);
    } else {
      known *= s[d];
    }
  }
  if (infer >= 0 && known > 0 && x.numel() % known == 0)
    s[infer] = static_cast<int>(x.numel() / known);
  if (numel_of(s) != x.numel())
    throw std::invalid_argument("cannot reshape " + shape_str(x.shape()) + " to " +
                                shape_str(shape));
  Tensor out(s, x.node()->data);
  record(out, {x}, [x, o = out.node()]() {
    GENIE_KERNEL(x.device(), accumulate)(x.grad(), o->gradient(), x.numel());
  });
  return out;
}

Tensor flatten(const Tensor& x) { return reshape(x, {x.size(0), -1}); }

}  // namespace engine
