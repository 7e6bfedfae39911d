// Single-precision matrix multiply on the device through cuBLAS (private to engine/cuda/).
//
// The contract of engine/cpu/gemm.h, on device arrays: contiguous row-major matrices,
//   C (M, N) = alpha * op(A) op(B) + beta * C
//   op(A) (M, K): A is stored (M, K), or (K, M) when trans_a
//   op(B) (K, N): B is stored (K, N), or (N, K) when trans_b
// beta = 1 accumulates into C, which is how backward kernels add into gradients.
#pragma once

namespace engine::cuda {

void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
          const float* B, float beta, float* C);

}  // namespace engine::cuda
