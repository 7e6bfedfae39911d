// Softmax cross-entropy (engine/ops/cross_entropy.cpp): loss = the batch mean of
// -log softmax(logits)[label], probs kept for the backward.
//
// Forward: one block per row finds the row's max and exp-sum with block reductions (the sum in
// double, as the CPU) and writes the row's probabilities and loss; reduce_each then adds the N
// row losses in a fixed order. Backward: one thread per logit, dloss read from device memory.
#include <cmath>

#include "engine/cuda/launch.cuh"
#include "engine/cuda/reduce.cuh"
#include "engine/cuda/scratch.h"
#include "engine/kernels.h"

namespace engine::cuda {

namespace {

constexpr int kRowThreads = 256;

struct Max {
  __device__ float operator()(float x, float y) const { return max_of(x, y); }
};

__global__ void softmax_rows_kernel(double* row_loss, float* probs, const float* logits,
                                    const int32_t* labels, int K) {
  const float* row = logits + int64_t{blockIdx.x} * K;
  float* p = probs + int64_t{blockIdx.x} * K;
  float row_max = -INFINITY;
  for (int k = threadIdx.x; k < K; k += blockDim.x) row_max = max_of(row_max, row[k]);
  row_max = block_reduce(row_max, Max());
  double z = 0.0;
  for (int k = threadIdx.x; k < K; k += blockDim.x) {
    float e = expf(row[k] - row_max);
    p[k] = e;
    z += e;
  }
  z = block_reduce(z, Add());
  // Each thread rescales only the entries it wrote, so no barrier is needed in between.
  for (int k = threadIdx.x; k < K; k += blockDim.x) p[k] = static_cast<float>(p[k] / z);
  if (threadIdx.x == 0) row_loss[blockIdx.x] = log(z) + row_max - row[labels[blockIdx.x]];
}

struct RowLosses {
  const double* row_loss;
  __device__ double operator()(int64_t, int64_t i) const { return row_loss[i]; }
};

struct StoreMeanLoss {
  float* loss;
  int N;
  __device__ void operator()(int64_t, double total) const { *loss = static_cast<float>(total / N); }
};

// dlogits += dloss * (probs - onehot(labels)) / N
struct CrossEntropyBackward {
  float* dlogits;
  const float *dloss, *probs;
  const int32_t* labels;
  int N, K;
  __device__ void operator()(int64_t e) const {
    float scale = *dloss / static_cast<float>(N);
    float d = dlogits[e] + scale * probs[e];
    if (labels[e / K] == e % K) d -= scale;
    dlogits[e] = d;
  }
};

}  // namespace

void cross_entropy_forward(float* loss, float* probs, const float* logits, const int32_t* labels,
                           int N, int K) {
  DeviceArray<double> row_loss(N);
  if (N > 0) {
    softmax_rows_kernel<<<N, kRowThreads>>>(row_loss.get(), probs, logits, labels, K);
    check_launch("cross_entropy_forward");
  }
  reduce_each("cross_entropy_forward", 1, N, RowLosses{row_loss.get()}, StoreMeanLoss{loss, N});
}

void cross_entropy_backward(float* dlogits, const float* dloss, const float* probs,
                            const int32_t* labels, int N, int K) {
  if (!dlogits) return;
  for_each_index("cross_entropy_backward", int64_t{N} * K,
                 CrossEntropyBackward{dlogits, dloss, probs, labels, N, K});
}

}  // namespace engine::cuda
