// Rows of a (N, ...) tensor, per = elements per row: gather a list of rows, and its backward.
//
// gather_rows is one thread per element copied. scatter_add_rows is one thread per position
// within a row, walking the listed rows in order: a row listed twice is added twice, by the
// same thread, so there are no races and no atomics, and the order is the list's.
#include "engine/cuda/launch.cuh"
#include "engine/kernels.h"

namespace engine::cuda {

namespace {

struct GatherRows {
  float* out;
  const float* x;
  const int32_t* rows;
  int64_t per;
  __device__ void operator()(int64_t e) const {
    out[e] = x[int64_t{rows[e / per]} * per + e % per];
  }
};

struct ScatterAddRows {
  float* dx;
  const float* dout;
  const int32_t* rows;
  int count;
  int64_t per;
  __device__ void operator()(int64_t k) const {
    for (int i = 0; i < count; ++i) dx[int64_t{rows[i]} * per + k] += dout[int64_t{i} * per + k];
  }
};

}  // namespace

void gather_rows(float* out, const float* x, const int32_t* rows, int count, int64_t per) {
  for_each_index("gather_rows", count * per, GatherRows{out, x, rows, per});
}

void scatter_add_rows(float* dx, const float* dout, const int32_t* rows, int count, int64_t per) {
  if (!dx) return;
  for_each_index("scatter_add_rows", per, ScatterAddRows{dx, dout, rows, count, per});
}

}  // namespace engine::cuda
