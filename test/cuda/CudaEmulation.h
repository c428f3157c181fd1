//===- CudaEmulation.h - generated CUDA C compiled as host C++ ----*- C++ -*-===//
//
// Lets the kernels of compiler/Target/Cuda/CudaCodegen compile with a host C++ compiler and
// run on the CPU, so that their numerics can be checked against the CPU runtime on machines
// without a GPU (test/unit/CudaEmulationTest.cpp). Include it before the generated source.
//
// launch() runs the blocks of a grid one after another and the threads of a block one after
// another, each to completion. That is a valid CUDA schedule only for kernels whose threads
// never wait for each other, which is the code generator's rule: no __syncthreads, no shared
// memory. So __syncthreads aborts unless the block has a single thread (where it is a no-op),
// and __shared__ variables are plain statics, which the rule keeps unused. atomicAdd needs no
// atomicity: one host thread runs a whole launch.
//
// Not for production use: it exists for verification only, and it defines CUDA's keywords as
// macros, so include it only in translation units made for it.
//
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <math.h> // CUDA's math functions (expf, logf, fmaxf, exp, ...), global as in CUDA
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x = 1, unsigned y = 1, unsigned z = 1) : x(x), y(y), z(z) {}
};

// The built-in variables, thread_local so that tests may emulate on several host threads.
inline thread_local uint3 threadIdx, blockIdx;
inline thread_local dim3 blockDim, gridDim;

inline void __syncthreads() {
  if (blockDim.x * blockDim.y * blockDim.z > 1) {
    std::fprintf(stderr, "CudaEmulation: __syncthreads in a block of several threads cannot be "
                         "emulated thread by thread\n");
    std::abort();
  }
}

// Bit casts between float and its 32 bits (the half storage types' conversions use them).
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline float atomicAdd(float *address, float value) {
  float old = *address;
  *address = old + value;
  return old;
}
inline double atomicAdd(double *address, double value) {
  double old = *address;
  *address = old + value;
  return old;
}
inline int atomicAdd(int *address, int value) {
  int old = *address;
  *address = old + value;
  return old;
}

namespace dlc::cuda::emu {

/// Runs kernel<<<grid, block>>>(args...).
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, Args... args) {
  gridDim = grid;
  blockDim = block;
  for (blockIdx.z = 0; blockIdx.z < grid.z; ++blockIdx.z)
    for (blockIdx.y = 0; blockIdx.y < grid.y; ++blockIdx.y)
      for (blockIdx.x = 0; blockIdx.x < grid.x; ++blockIdx.x)
        for (threadIdx.z = 0; threadIdx.z < block.z; ++threadIdx.z)
          for (threadIdx.y = 0; threadIdx.y < block.y; ++threadIdx.y)
            for (threadIdx.x = 0; threadIdx.x < block.x; ++threadIdx.x)
              kernel(args...);
}

template <class... Params, size_t... I>
void launchPointers(void (*kernel)(Params...), dim3 grid, dim3 block, void *const *pointers,
                    std::index_sequence<I...>) {
  launch(kernel, grid, block, static_cast<Params>(pointers[I])...);
}

/// Runs a kernel whose parameters are all pointers, given them as an array in parameter
/// order: the shape of a plan's kernel call (buffer addresses), so that a test can launch any
/// generated kernel through one function-pointer type.
template <class... Params>
void launchPointers(void (*kernel)(Params...), dim3 grid, dim3 block, void *const *pointers) {
  static_assert((std::is_pointer_v<Params> && ...), "generated kernels take only pointers");
  launchPointers(kernel, grid, block, pointers, std::index_sequence_for<Params...>{});
}

/// A generated kernel by name, launchable with its buffer addresses.
struct Kernel {
  const char *name;
  void (*launch)(dim3 grid, dim3 block, void *const *pointers);
};

} // namespace dlc::cuda::emu
