// The kernels for AVX-512; built with -mavx512f, run only where the CPU
// reports it (gemm.cpp). 32 vector registers hold an 8 x 32 float tile.
#define RNNKIT_SIMD_NAME "avx512"
#define RNNKIT_SIMD_KERNELS avx512_kernels
#define RNNKIT_VECTOR_BYTES 64
#define RNNKIT_MR 8
#include "simd_path.hpp"
