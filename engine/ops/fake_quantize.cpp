// The activation fake quantizer as one op, with or without QDrop; see ops.h. Neither pass keeps
// an intermediate: the backward recomputes x / s and the code from x, which costs less than
// storing and reading them. QDrop's choice is kept, one byte per element, as where's is.
#include <memory>
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"
#include "engine/rng.h"

namespace engine {

namespace {

// keep_float null: every element quantized.
Tensor fake_quantize_with(const Tensor& x, const Tensor& step, float qn, float qp,
                          std::shared_ptr<Storage> keep_float) {
  const Device device = same_device("fake_quantize", {x, step});
  if (step.numel() != 1)
    throw std::invalid_argument("fake_quantize needs a step of one element, got " +
                                shape_str(step.shape()));
  if (!(qn <= qp))
    throw std::invalid_argument("fake_quantize needs qn <= qp, got qn " + std::to_string(qn) +
                                " qp " + std::to_string(qp));
  const uint8_t* keep = keep_float ? keep_float->as<uint8_t>() : nullptr;
  Tensor out = Tensor::uninitialized(x.shape(), device);
  GENIE_KERNEL(device, fake_quantize_forward)
  (out.data(), x.data(), keep, step.data(), qn, qp, x.numel());
  // keep_float is captured to keep the bytes that `keep` points into alive.
  record(out, {x, step}, [x, step, keep_float, keep, o = out.node(), qn, qp]() {
    GENIE_KERNEL(o->device(), fake_quantize_backward)
    (grad_or_null(x), grad_or_null(step), o->gradient(), x.data(), keep, step.data(), qn, qp,
     x.numel());
  });
  return out;
}

}  // namespace

Tensor fake_quantize(const Tensor& x, const Tensor& step, float qn, float qp) {
  return fake_quantize_with(x, step, qn, qp, nullptr);
}

Tensor fake_quantize(const Tensor& x, const Tensor& step, float qn, float qp, float p_quantized,
                     Rng& rng) {
  return fake_quantize_with(x, step, qn, qp,
                            bernoulli_mask(x.numel(), 1.0f - p_quantized, rng, x.device()));
}

}  // namespace engine
