// The matrix product for the target's baseline instruction set (SSE2 on
// x86-64, NEON on aarch64): runs everywhere the wheel installs.
#define RNNKIT_GEMM_NAME "portable"
#define RNNKIT_GEMM_KERNEL portable_kernel
#define RNNKIT_VECTOR_BYTES 16
#define RNNKIT_MR 4
#include "gemm_impl.hpp"
