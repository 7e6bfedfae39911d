// Pooling: max and average over square windows, and the global average over each plane.
//
// Shapes: x (N, C, H, W), out (N, C, OH, OW) with OH = (H + 2 * padding - kernel) / stride + 1
// (floor, PyTorch's ceil_mode=False), global_avg_pool out (N, C). A "plane" is one (n, c) image,
// planes = N * C (kernels: engine/cpu/pool.cpp and engine/cuda/).

#include <memory>
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace engine {

namespace {

void require_images(const Tensor& x, const char* op) {
  if (x.ndim() != 4 || x.numel() == 0)
    throw std::invalid_argument(std::string(op) + " needs a non-empty x (N, C, H, W), got " +
                                shape_str(x.shape()));
}

// PyTorch's limits: positive kernel and stride, padding at most half the kernel (so every window
// holds at least one real element), and at least one output pixel.
PoolGeometry pool_geometry(const Tensor& x, int kernel, int stride, int padding, const char* op) {
  require_images(x, op);
  std::string args = std::string(op) + "(kernel " + std::to_string(kernel) + ", stride " +
                     std::to_string(stride) + ", padding " + std::to_string(padding) + ")";
  if (kernel < 1 || stride < 1 || padding < 0 || padding > kernel / 2)
    throw std::invalid_argument(args + ": needs kernel, stride >= 1 and 0 <= padding <= kernel/2");
  int H = x.size(2), W = x.size(3);
  if (H + 2 * padding < kernel || W + 2 * padding < kernel)
    throw std::invalid_argument(args + ": kernel larger than the padded input " +
                                shape_str(x.shape()));
  return {x.size(0) * x.size(1),
          H,
          W,
          (H + 2 * padding - kernel) / stride + 1,
          (W + 2 * padding - kernel) / stride + 1,
          kernel,
          stride,
          padding};
}

Shape pooled_shape(const Tensor& x, const PoolGeometry& g) {
  return {x.size(0), x.size(1), g.out_height, g.out_width};
}

}  // namespace

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  PoolGeometry g = pool_geometry(x, kernel, stride, padding, "max_pool2d");
  Tensor out(pooled_shape(x, g), 0.0f, x.device());
  auto argmax = std::make_shared<Storage>(x.device(), out.numel() * sizeof(int32_t));
  GENIE_KERNEL(x.device(), max_pool_forward)(out.data(), argmax->as<int32_t>(), x.data(), g);
  record(out, {x}, [x, o = out.node(), argmax, g]() {
    GENIE_KERNEL(x.device(), max_pool_backward)
    (x.grad(), o->gradient(), argmax->as<int32_t>(), g);
  });
  return out;
}

Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  PoolGeometry g = pool_geometry(x, kernel, stride, padding, "avg_pool2d");
  Tensor out(pooled_shape(x, g), 0.0f, x.device());
  GENIE_KERNEL(x.device(), avg_pool_forward)(out.data(), x.data(), g);
  record(out, {x}, [x, o = out.node(), g]() {
    GENIE_KERNEL(x.device(), avg_pool_backward)(x.grad(), o->gradient(), g);
  });
  return out;
}

Tensor global_avg_pool(const Tensor& x) {
  require_images(x, "global_avg_pool");
  int planes = x.size(0) * x.size(1);
  int64_t plane_size = int64_t{x.size(2)} * x.size(3);
  Tensor out({x.size(0), x.size(1)}, 0.0f, x.device());
  GENIE_KERNEL(x.device(), global_avg_pool_forward)(out.data(), x.data(), planes, plane_size);
  record(out, {x}, [x, o = out.node(), planes, plane_size]() {
    GENIE_KERNEL(x.device(), global_avg_pool_backward)(x.grad(), o->gradient(), planes, plane_size);
  });
  return out;
}

}  // namespace engine
