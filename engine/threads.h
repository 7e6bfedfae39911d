// How many threads the engine uses, for OpenBLAS, oneDNN and its own OpenMP loops, and which
// OpenBLAS kernel ("core") and oneDNN instruction set run underneath.
#pragma once

#include <cstdint>
#include <string>

namespace engine {

// The most threads --threads or GENIE_THREADS may ask for; larger values are errors.
constexpr int kMaxThreads = 4096;

// The thread count to use: `requested` if > 0, else GENIE_THREADS, else all cores; never more
// than the cores (a note on stderr says when fewer are used than asked for). Throws
// std::invalid_argument for a GENIE_THREADS that is not 1..kMaxThreads.
int resolve_threads(int requested);
// Sets the engine to n threads: n OpenMP threads, each calling a single-threaded OpenBLAS.
void set_threads(int n);
int threads();
// Whether a loop over this many elements is worth waking the threads for: below it, their
// start-up costs more than they save.
inline bool worth_threads(int64_t elements) { return elements > 65536; }
// The OpenBLAS core in use, e.g. "SkylakeX" or "Prescott" (a slow generic fallback).
std::string blas_core();
std::string blas_config();
// The instruction set oneDNN dispatches its kernels for on this CPU, e.g. "avx512_core": its fp32
// convolutions sum in an order that depends on it (ONEDNN_MAX_CPU_ISA caps it).
std::string onednn_isa();

// Sets two environment variables the libraries read only when they load, and re-executes the
// program once so that they take effect; a value the user already set is always respected.
//  - OPENBLAS_CORETYPE: Debian's OpenBLAS falls back to its generic "Prescott" kernel (about
//    5x slower) on CPUs it does not recognise; then the kernel the CPU supports is chosen
//    (SkylakeX for AVX-512, Haswell for AVX2).
//  - OMP_WAIT_POLICY=passive with GOMP_SPINCOUNT=1000: a thread done with a parallel loop
//    waits for the next one for 1000 spins (tens of microseconds), then sleeps. Measured on 2
//    cores: libgomp's default wait (300,000 spins) made a training step 1.6x slower while another
//    process was busy, since a spinning thread holds a core that the other thread it waits for
//    needs; sleeping at once made a GENIE-M iteration at batch 32 1.4x slower on an idle machine
//    (it runs about 130 short loops, each then waking a sleeping thread). The short spin keeps
//    most of both.
// It also keeps allocations up to 32 MB in the heap instead of fresh mmaps (see threads.cpp).
void tune_runtime_environment(char** argv);

}  // namespace engine
