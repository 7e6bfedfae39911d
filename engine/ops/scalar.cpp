// Elementwise ops with a scalar constant.
#include "engine/autograd.h"
#include "engine/ops.h"

namespace engine {

namespace {
Tensor affine(const Tensor& x, float scale, float shift) {
  Tensor out(x.shape());
  const float* px = x.data();
  float* po = out.data();
  for (int64_t i = 0; i < x.numel(); ++i) po[i] = px[i] * scale + shift;
  record(out, {x}, [x, o = out.node(), scale]() mutable {
    float* gx = x.grad();
    const float* g = o->grad.data();
    for (size_t i = 0; i < o->grad.size(); ++i) gx[i] += g[i] * scale;
  });
  return out;
}
}  // namespace

Tensor add_scalar(const Tensor& x, float c) { return affine(x, 1.0f, c); }
Tensor mul_scalar(const Tensor& x, float c) { return affine(x, c, 0.0f); }

}  // namespace engine
