// Reductions over chosen axes: sum (and mean, through scale) and the unbiased std.
//
// The map sends each input element to the output element it reduces into. Forward: one block
// (or a few segments) per output element sums its inputs in double (reduce_each), as the CPU
// does; std makes two passes, the mean and then the squared deviations from it. Backward: one
// thread per input element, reading its output's gradient.
#include <cmath>

#include "engine/cuda/index_map.cuh"
#include "engine/cuda/launch.cuh"
#include "engine/cuda/reduce.cuh"
#include "engine/cuda/scratch.h"
#include "engine/kernels.h"

namespace engine::cuda {

namespace {

struct InputsOf {
  Fanin fanin;
  const float* x;
  __device__ double operator()(int64_t j, int64_t k) const { return x[fanin.large_index(j, k)]; }
};

struct StoreScaled {
  float* out;
  double scale;
  __device__ void operator()(int64_t j, double total) const {
    out[j] = static_cast<float>(total * scale);
  }
};

struct SumBackward {
  float* dx;
  const float* dout;
  IndexMap map;
  float scale;
  __device__ void operator()(int64_t i) const { dx[i] += dout[map(i)] * scale; }
};

struct StoreMean {
  double* mean;
  float* mean_out;
  int64_t count;
  __device__ void operator()(int64_t j, double total) const {
    mean[j] = total / static_cast<double>(count);
    mean_out[j] = static_cast<float>(mean[j]);
  }
};

struct SquaredDeviations {
  Fanin fanin;
  const float* x;
  const double* mean;
  __device__ double operator()(int64_t j, int64_t k) const {
    double d = x[fanin.large_index(j, k)] - mean[j];
    return d * d;
  }
};

struct StoreStd {
  float* out;
  int64_t count;
  __device__ void operator()(int64_t j, double total) const {
    out[j] = static_cast<float>(sqrt(total / static_cast<double>(count - 1)));
  }
};

// d std / d x_i = (x_i - mean) / ((count - 1) std), and 0 where std is 0.
struct StdBackward {
  float* dx;
  const float *dout, *out, *mean, *x;
  IndexMap map;
  int64_t count;
  __device__ void operator()(int64_t i) const {
    int64_t j = map(i);
    if (out[j] > 0.0f)
      dx[i] += dout[j] * (x[i] - mean[j]) / (static_cast<float>(count - 1) * out[j]);
  }
};

int64_t input_count(const BroadcastIndex& map) { return numel_of(map.out_shape()); }

}  // namespace

void sum_forward(float* out, const float* x, const BroadcastIndex& map, int64_t n_out,
                 double scale) {
  Fanin f = fanin(map);
  reduce_each("sum_forward", n_out, f.fan, InputsOf{f, x}, StoreScaled{out, scale});
}

void sum_backward(float* dx, const float* dout, const BroadcastIndex& map, float scale) {
  if (!dx) return;
  for_each_index("sum_backward", input_count(map), SumBackward{dx, dout, index_map(map), scale});
}

void std_forward(float* out, float* mean, const float* x, const BroadcastIndex& map, int64_t n_out,
                 int64_t count) {
  Fanin f = fanin(map);
  DeviceArray<double> mean_exact(n_out);
  reduce_each("std_forward", n_out, f.fan, InputsOf{f, x},
              StoreMean{mean_exact.get(), mean, count});
  reduce_each("std_forward", n_out, f.fan, SquaredDeviations{f, x, mean_exact.get()},
              StoreStd{out, count});
}

void std_backward(float* dx, const float* dout, const float* out, const float* mean, const float* x,
                  const BroadcastIndex& map, int64_t count) {
  if (!dx) return;
  for_each_index("std_backward", input_count(map),
                 StdBackward{dx, dout, out, mean, x, index_map(map), count});
}

}  // namespace engine::cuda
