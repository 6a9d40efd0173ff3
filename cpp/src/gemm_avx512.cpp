// The matrix product for AVX-512; built with -mavx512f, run only where the
// CPU reports it (gemm.cpp). 32 vector registers hold a 12 x 32 float tile.
#define RNNKIT_GEMM_NAME "avx512"
#define RNNKIT_GEMM_KERNEL avx512_kernel
#define RNNKIT_VECTOR_BYTES 64
#define RNNKIT_MR 8
#include "gemm_impl.hpp"
