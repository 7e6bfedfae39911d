// Matrix multiply: the OpenBLAS wrapper and its naive reference; see gemm.h.
//
// Shapes: C (M, N), op(A) (M, K), op(B) (K, N), all row-major and contiguous.
#include "engine/cpu/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>

namespace engine {

namespace {
// Below this many multiply-adds a split costs more than it saves.
constexpr double kSplitWork = 1 << 20;

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
           const float* B, float beta, float* C) {
  int lda = trans_a ? M : K;
  int ldb = trans_b ? K : N;
  // BLAS rejects a leading dimension of 0 even when the matrix is empty.
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda > 0 ? lda : 1, B,
              ldb > 0 ? ldb : 1, beta, C, N);
}
}  // namespace

void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
          const float* B, float beta, float* C) {
  if (M == 0 || N == 0) return;
  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads == 1 || M < 2 * threads || static_cast<double>(M) * N * K < kSplitWork) {
    sgemm(trans_a, trans_b, M, N, K, alpha, A, B, beta, C);
    return;
  }
  // Each thread computes a fixed band of rows of C: deterministic for a given thread count.
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num();
    int begin = static_cast<int>(static_cast<int64_t>(M) * t / threads);
    int end = static_cast<int>(static_cast<int64_t>(M) * (t + 1) / threads);
    const float* a_rows = trans_a ? A + begin : A + static_cast<int64_t>(begin) * K;
    // A transposed is stored (K, M): its band of columns keeps the leading dimension M.
    if (end > begin) {
      if (trans_a)
        cblas_sgemm(CblasRowMajor, CblasTrans, trans_b ? CblasTrans : CblasNoTrans, end - begin, N,
                    K, alpha, a_rows, M, B, trans_b ? std::max(K, 1) : N, beta,
                    C + static_cast<int64_t>(begin) * N, N);
      else
        sgemm(false, trans_b, end - begin, N, K, alpha, a_rows, B, beta,
              C + static_cast<int64_t>(begin) * N);
    }
  }
}

void gemm_reference(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                    const float* B, float beta, float* C) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double dot = 0.0;
      for (int k = 0; k < K; ++k) {
        float a = trans_a ? A[k * M + i] : A[i * K + k];
        float b = trans_b ? B[j * K + k] : B[k * N + j];
        dot += static_cast<double>(a) * b;
      }
      // beta = 0 must ignore C entirely, so that an uninitialised C (even NaN) is fine.
      double prior = beta == 0.0f ? 0.0 : static_cast<double>(beta) * C[i * N + j];
      C[i * N + j] = static_cast<float>(alpha * dot + prior);
    }
}

}  // namespace engine
