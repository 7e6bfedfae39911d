// Resampling and spatial index maps: nearest 2x upsampling, reflection padding, cropping, and the
// subsample-and-pad-channels ResNet shortcut.
//
// Shapes: x (N, C, H, W); a "plane" is one (n, c) image. Each op copies values through an index
// map from output pixels to input pixels, so each backward adds every output gradient into the
// input pixel it was read from; where several outputs read one input (upsampling, reflection)
// their gradients add up. Kernels loop over planes in parallel and each plane is done by one
// thread in a fixed order, so results are deterministic (engine/cpu/resample.cpp).

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

}  // namespace

Tensor upsample_nearest2x(const Tensor& x) {
  require_images(x, "upsample_nearest2x");
  int planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  Tensor out({x.size(0), x.size(1), 2 * H, 2 * W}, 0.0f, x.device());
  GENIE_KERNEL(x.device(), upsample_nearest2x_forward)(out.data(), x.data(), planes, H, W);
  record(out, {x}, [x, o = out.node(), planes, H, W]() {
    GENIE_KERNEL(x.device(), upsample_nearest2x_backward)(x.grad(), o->gradient(), planes, H, W);
  });
  return out;
}

Tensor reflection_pad2d(const Tensor& x, int pad) {
  require_images(x, "reflection_pad2d");
  int planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  // PyTorch's limit too: a reflection of more than n - 1 pixels would run off the far edge.
  if (pad < 0 || pad >= H || pad >= W)
    throw std::invalid_argument("reflection_pad2d: pad " + std::to_string(pad) +
                                " must be in [0, min(H, W)) for x " + shape_str(x.shape()));
  Tensor out({x.size(0), x.size(1), H + 2 * pad, W + 2 * pad}, 0.0f, x.device());
  GENIE_KERNEL(x.device(), reflection_pad2d_forward)(out.data(), x.data(), planes, H, W, pad);
  record(out, {x}, [x, o = out.node(), planes, H, W, pad]() {
    GENIE_KERNEL(x.device(), reflection_pad2d_backward)(x.grad(), o->gradient(), planes, H, W, pad);
  });
  return out;
}

Tensor crop2d(const Tensor& x, int top, int left, int height, int width) {
  require_images(x, "crop2d");
  int planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  if (top < 0 || left < 0 || height < 1 || width < 1 || top > H - height || left > W - width)
    throw std::invalid_argument("crop2d: box (top " + std::to_string(top) + ", left " +
                                std::to_string(left) + ", height " + std::to_string(height) +
                                ", width " + std::to_string(width) + ") is not inside x " +
                                shape_str(x.shape()));
  CropBox box{top, left, height, width};
  Tensor out({x.size(0), x.size(1), height, width}, 0.0f, x.device());
  GENIE_KERNEL(x.device(), crop2d_forward)(out.data(), x.data(), box, planes, H, W);
  record(out, {x}, [x, o = out.node(), box, planes, H, W]() {
    GENIE_KERNEL(x.device(), crop2d_backward)(x.grad(), o->gradient(), box, planes, H, W);
  });
  return out;
}

Tensor shortcut_subsample_pad(const Tensor& x, int pad_channels) {
  require_images(x, "shortcut_subsample_pad");
  if (pad_channels < 0)
    throw std::invalid_argument("shortcut_subsample_pad: negative pad_channels " +
                                std::to_string(pad_channels) + " for x " + shape_str(x.shape()));
  int N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor out({N, C + 2 * pad_channels, (H + 1) / 2, (W + 1) / 2}, 0.0f, x.device());
  GENIE_KERNEL(x.device(), shortcut_forward)(out.data(), x.data(), N, C, H, W, pad_channels);
  record(out, {x}, [x, o = out.node(), N, C, H, W, pad_channels]() {
    GENIE_KERNEL(x.device(), shortcut_backward)(x.grad(), o->gradient(), N, C, H, W, pad_channels);
  });
  return out;
}

}  // namespace engine
