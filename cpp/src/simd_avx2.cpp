// The kernels for AVX2 with FMA; built with -mavx2 -mfma, run only where the
// CPU reports both (gemm.cpp).
#define RNNKIT_SIMD_NAME "avx2"
#define RNNKIT_SIMD_KERNELS avx2_kernels
#define RNNKIT_VECTOR_BYTES 32
#define RNNKIT_MR 6
#include "simd_path.hpp"
