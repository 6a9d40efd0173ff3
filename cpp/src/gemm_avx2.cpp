// The matrix product for AVX2 with FMA; built with -mavx2 -mfma, run only
// where the CPU reports both (gemm.cpp).
#define RNNKIT_GEMM_NAME "avx2"
#define RNNKIT_GEMM_KERNEL avx2_kernel
#define RNNKIT_VECTOR_BYTES 32
#define RNNKIT_MR 6
#include "gemm_impl.hpp"
