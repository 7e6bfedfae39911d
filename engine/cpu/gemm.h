// Single-precision matrix multiply on the CPU: a thin wrapper over OpenBLAS cblas_sgemm, and a
// naive triple loop that the tests hold the wrapper to.
//
// All matrices are contiguous and row-major:
//   C (M, N) = alpha * op(A) op(B) + beta * C
//   op(A) (M, K): A is stored (M, K), or (K, M) when trans_a
//   op(B) (K, N): B is stored (K, N), or (N, K) when trans_b
// beta = 1 accumulates into C, which is how backward kernels add into gradients.
//
// OpenBLAS runs single-threaded (engine/threads.cpp): the engine's parallelism is OpenMP's
// alone, because two thread pools on the same cores spend their time yielding to each other.
// gemm called outside a parallel region splits the rows of C over the OpenMP threads; inside
// one (conv2d runs one image group per thread) it is a plain single-threaded sgemm.
#pragma once

namespace engine {

void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
          const float* B, float beta, float* C);

// The same contract, one dot product per element, accumulated in double.
void gemm_reference(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                    const float* B, float beta, float* C);

}  // namespace engine
