// Row ops on (N, ...) tensors: a range of rows, rows picked by index, and rows stacked. They are
// how mini-batches and chunks are cut from cached activations and calibration images, on any
// device. Gradients flow back into the rows that were read.
#include <memory>
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace engine {

namespace {

int64_t row_size(const Tensor& x) { return x.size(0) ? x.numel() / x.size(0) : 0; }

Shape with_rows(Shape shape, int rows) {
  shape[0] = rows;
  return shape;
}

}  // namespace

Tensor gather_rows(const Tensor& x, const std::vector<int>& rows) {
  if (x.ndim() < 1) throw std::invalid_argument("gather_rows of a 0-d tensor");
  for (int r : rows)
    if (r < 0 || r >= x.size(0))
      throw std::out_of_range("gather_rows: row " + std::to_string(r) + " of x " +
                              shape_str(x.shape()));
  const int count = static_cast<int>(rows.size());
  const int64_t per = row_size(x);
  auto index = std::make_shared<Storage>(x.device(), rows.size() * sizeof(int32_t));
  copy_between(*index, rows.data(), rows.size() * sizeof(int32_t));
  Tensor out = Tensor::uninitialized(with_rows(x.shape(), count), x.device());
  GENIE_KERNEL(x.device(), gather_rows)(out.data(), x.data(), index->as<int32_t>(), count, per);
  record(out, {x}, [x, o = out.node(), index, count, per]() {
    GENIE_KERNEL(x.device(), scatter_add_rows)
    (x.grad(), o->gradient(), index->as<int32_t>(), count, per);
  });
  return out;
}

Tensor slice_rows(const Tensor& x, int start, int count) {
  if (x.ndim() < 1 || start < 0 || count < 0 || start > x.size(0) - count)
    throw std::out_of_range("slice_rows: rows [" + std::to_string(start) + ", " +
                            std::to_string(start + count) + ") of x " + shape_str(x.shape()));
  const int64_t per = row_size(x);
  Tensor out = Tensor::uninitialized(with_rows(x.shape(), count), x.device());
  GENIE_KERNEL(x.device(), copy)(out.data(), x.data() + start * per, count * per);
  record(out, {x}, [x, o = out.node(), start, per, count]() {
    GENIE_KERNEL(x.device(), accumulate)(x.grad() + start * per, o->gradient(), count * per);
  });
  return out;
}

Tensor concat_rows(const std::vector<Tensor>& parts) {
  if (parts.empty()) throw std::invalid_argument("concat_rows of no tensors");
  Device device = same_device("concat_rows", parts);
  int rows = 0;
  for (const Tensor& p : parts) {
    if (p.ndim() < 1 || with_rows(p.shape(), 0) != with_rows(parts[0].shape(), 0))
      throw std::invalid_argument("concat_rows: " + shape_str(p.shape()) + " does not stack with " +
                                  shape_str(parts[0].shape()));
    rows += p.size(0);
  }
  Tensor out = Tensor::uninitialized(with_rows(parts[0].shape(), rows), device);
  int64_t at = 0;
  for (const Tensor& p : parts) {
    GENIE_KERNEL(device, copy)(out.data() + at, p.data(), p.numel());
    at += p.numel();
  }
  record(out, parts, [parts, o = out.node()]() {
    int64_t at = 0;
    for (const Tensor& p : parts) {
      if (p.requires_grad())
        GENIE_KERNEL(o->device(), accumulate)(p.grad(), o->gradient() + at, p.numel());
      at += p.numel();
    }
  });
  return out;
}

}  // namespace engine
