// GENIE_HOST_DEVICE marks a function that both backends call: __host__ __device__ under nvcc,
// nothing under g++.
#pragma once

#ifdef __CUDACC__
#define GENIE_HOST_DEVICE __host__ __device__
#else
#define GENIE_HOST_DEVICE
#endif
