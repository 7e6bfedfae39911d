// Thread control for OpenBLAS and OpenMP; see threads.h.
#include "engine/threads.h"

#include <cblas.h>
#include <omp.h>
#include <dnnl.hpp>

#include <malloc.h>
#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

namespace engine {

namespace {
int cores() {
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

// GENIE_THREADS's value, or 0 when it is not set.
int threads_from_environment() {
  const char* env = std::getenv("GENIE_THREADS");
  if (!env) return 0;
  char* end = nullptr;
  long n = std::strtol(env, &end, 10);
  if (end == env || *end != '\0' || n <= 0 || n > kMaxThreads)
    throw std::invalid_argument("GENIE_THREADS must be 1.." + std::to_string(kMaxThreads) +
                                ", got '" + std::string(env) + "'");
  return static_cast<int>(n);
}
}  // namespace

int resolve_threads(int requested) {
  int n = requested > 0 ? requested : threads_from_environment();
  if (n <= 0) return cores();
  // Threads beyond the cores only take turns, and wake each other at every parallel loop:
  // measured, 64 threads on 2 cores evaluated 8x slower, 4096 took minutes to start at all.
  if (n > cores())
    std::fprintf(stderr, "note: %d threads asked for, %d used: the machine has %d cores\n", n,
                 cores(), cores());
  return std::min(n, cores());
}

void set_threads(int n) {
  openblas_set_num_threads(1);  // see engine/cpu/gemm.h: the threads are OpenMP's
  omp_set_num_threads(n);
}

int threads() { return omp_get_max_threads(); }

std::string blas_core() { return openblas_get_corename(); }

std::string blas_config() { return openblas_get_config(); }

std::string onednn_isa() {
  using isa = dnnl::cpu_isa;
  const std::pair<isa, const char*> names[] = {{isa::sse41, "sse41"},
                                               {isa::avx, "avx"},
                                               {isa::avx2, "avx2"},
                                               {isa::avx2_vnni, "avx2_vnni"},
                                               {isa::avx512_core, "avx512_core"},
                                               {isa::avx512_core_vnni, "avx512_core_vnni"},
                                               {isa::avx512_core_bf16, "avx512_core_bf16"},
                                               {isa::avx512_core_amx, "avx512_core_amx"}};
  const isa effective = dnnl::get_effective_cpu_isa();
  for (const auto& [value, name] : names)
    if (value == effective) return name;
  return "other";
}

namespace {
// The OpenBLAS kernel to ask for, or nullptr to leave OpenBLAS alone.
const char* better_blas_core() {
  if (blas_core() != "Prescott") return nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return nullptr;
}
}  // namespace

void tune_runtime_environment(char** argv) {
  bool changed = false;
  if (!std::getenv("OPENBLAS_CORETYPE"))
    if (const char* core = better_blas_core()) {
      setenv("OPENBLAS_CORETYPE", core, 1);
      changed = true;
    }
  if (!std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    if (!std::getenv("GOMP_SPINCOUNT")) setenv("GOMP_SPINCOUNT", "1000", 1);
    changed = true;
  }
  if (changed) execv("/proc/self/exe", argv);  // returns only on failure: then run on as we are
  // Activations are megabytes each and die every step; served by mmap, every step would fault
  // their pages in afresh (a third of a ResNet training step, measured). Kept in the heap,
  // their pages are reused. Arrays above 32 MB (a whole calibration set's block input, an
  // ImageNet batch's activations) are few, and long to compute against their page faults; in
  // the heap, their holes fragment it (genie bench recon's setup, 1024 block inputs: 560 MB
  // resident with them in the heap, 364 MB with them served by mmap).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace engine
