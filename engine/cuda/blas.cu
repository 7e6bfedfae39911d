// gemm (engine/cuda/blas.h) through one cuBLAS handle, created on first use, on the default
// stream.
//
// cuBLAS is column-major, and a row-major (M, N) matrix is the column-major (N, M) matrix of
// the same memory, its transpose. So row-major C = op(A) op(B) is computed as the column-major
// C^T = op(B)^T op(A)^T: the operands swap places and keep their transpose flags.
#include "engine/cuda/blas.h"

#include <cublas_v2.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <string>

namespace engine::cuda {

namespace {

void check_cublas(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuda: ") + call + ": " + cublasGetStatusString(status));
}

cublasHandle_t handle() {
  static std::once_flag created;
  static cublasHandle_t instance = nullptr;
  std::call_once(created, [] {
    check_cublas(cublasCreate(&instance), "cublasCreate");
    // Full FP32 products: TF32 tensor cores would round the inputs to 10 mantissa bits and lose
    // parity with the CPU.
    check_cublas(cublasSetMathMode(instance, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  });
  return instance;
}

cublasOperation_t op(bool transposed) { return transposed ? CUBLAS_OP_T : CUBLAS_OP_N; }

}  // namespace

void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
          const float* B, float beta, float* C) {
  if (M == 0 || N == 0) return;
  // Leading dimensions: the row length of each operand as stored.
  int lda = std::max(1, trans_a ? M : K), ldb = std::max(1, trans_b ? K : N);
  check_cublas(
      cublasSgemm(handle(), op(trans_b), op(trans_a), N, M, K, &alpha, B, ldb, A, lda, &beta, C, N),
      "cublasSgemm");
}

}  // namespace engine::cuda
