// The activation fake quantizer as one op; see ops.h. Neither pass keeps an intermediate: the
// backward recomputes x / s and the code from x, which costs less than storing and reading them.
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace engine {

Tensor fake_quantize(const Tensor& x, const Tensor& step, float qn, float qp) {
  const Device device = same_device("fake_quantize", {x, step});
  if (step.numel() != 1)
    throw std::invalid_argument("fake_quantize needs a step of one element, got " +
                                shape_str(step.shape()));
  if (!(qn <= qp))
    throw std::invalid_argument("fake_quantize needs qn <= qp, got qn " + std::to_string(qn) +
                                " qp " + std::to_string(qp));
  Tensor out = Tensor::uninitialized(x.shape(), device);
  GENIE_KERNEL(device, fake_quantize_forward)
  (out.data(), x.data(), step.data(), qn, qp, x.numel());
  record(out, {x, step}, [x, step, o = out.node(), qn, qp]() {
    GENIE_KERNEL(o->device(), fake_quantize_backward)
    (grad_or_null(x), grad_or_null(step), o->gradient(), x.data(), step.data(), qn, qp, x.numel());
  });
  return out;
}

}  // namespace engine
