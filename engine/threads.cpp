// Thread control for OpenBLAS and OpenMP; see threads.h.
#include "engine/threads.h"

#include <cblas.h>
#include <omp.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

namespace engine {

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  if (const char* env = std::getenv("GENIE_THREADS")) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (end == env || *end != '\0' || n <= 0 || n > 4096)
      throw std::invalid_argument("GENIE_THREADS must be a positive integer, got '" +
                                  std::string(env) + "'");
    return static_cast<int>(n);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

void set_threads(int n) {
  openblas_set_num_threads(n);
  omp_set_num_threads(n);
}

int threads() { return omp_get_max_threads(); }

std::string blas_core() { return openblas_get_corename(); }

std::string blas_config() { return openblas_get_config(); }

}  // namespace engine
