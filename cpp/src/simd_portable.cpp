// The kernels for the target's baseline instruction set (SSE2 on x86-64,
// NEON on aarch64): they run everywhere the wheel installs.
#define RNNKIT_SIMD_NAME "portable"
#define RNNKIT_SIMD_KERNELS portable_kernels
#define RNNKIT_VECTOR_BYTES 16
#define RNNKIT_MR 4
#include "simd_path.hpp"
