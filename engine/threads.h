// How many threads the engine uses, for OpenBLAS and for its own OpenMP loops, and which
// OpenBLAS kernel ("core") runs underneath.
#pragma once

#include <string>

namespace engine {

// The thread count to use: `requested` if > 0, else GENIE_THREADS, else all cores.
int resolve_threads(int requested);
// Sets OpenBLAS and OpenMP to n threads.
void set_threads(int n);
int threads();
// The OpenBLAS core in use, e.g. "SkylakeX" or "Prescott" (a slow generic fallback).
std::string blas_core();
std::string blas_config();

}  // namespace engine
