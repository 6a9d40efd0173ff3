// Single-core multiply-add peak: 12 independent chains a = a * m + c on SIMD vectors.
//
// Compiled by peak.py with -O2, -DREAL=float|double, -DVB=<vector bytes> and the
// instruction-set flags of one path (with -mfma, GCC contracts a * m + c into one FMA).
// Twelve chains cover the FMA latency times the FMA ports of current x86 cores; they are
// twelve named variables, not an array, so that GCC keeps every one in a register.
//
// Usage: peak ITERATIONS M C
//   M and C come from the command line so that the compiler cannot fold the loop; peak.py
//   passes M just below 1, so the chains converge to C / (1 - M): no overflow, no denormals.
// Prints: ITERATIONS LANES SECONDS GFLOPS SUM  (2 flops per lane per multiply-add).
#include <chrono>
#include <cstdio>
#include <cstdlib>

#ifndef REAL
#define REAL float
#endif
#ifndef VB
#define VB 16
#endif

typedef REAL V __attribute__((vector_size(VB)));
constexpr int LANES = VB / sizeof(REAL);
constexpr int CHAINS = 12;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s ITERATIONS M C\n", argv[0]);
    return 2;
  }
  const long iterations = std::atol(argv[1]);
  const V m = V{} + static_cast<REAL>(std::atof(argv[2]));
  const V c = V{} + static_cast<REAL>(std::atof(argv[3]));

  V a0 = V{} + REAL(0.01), a1 = V{} + REAL(0.02), a2 = V{} + REAL(0.03);
  V a3 = V{} + REAL(0.04), a4 = V{} + REAL(0.05), a5 = V{} + REAL(0.06);
  V a6 = V{} + REAL(0.07), a7 = V{} + REAL(0.08), a8 = V{} + REAL(0.09);
  V a9 = V{} + REAL(0.10), a10 = V{} + REAL(0.11), a11 = V{} + REAL(0.12);

  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) {
    a0 = a0 * m + c;
    a1 = a1 * m + c;
    a2 = a2 * m + c;
    a3 = a3 * m + c;
    a4 = a4 * m + c;
    a5 = a5 * m + c;
    a6 = a6 * m + c;
    a7 = a7 * m + c;
    a8 = a8 * m + c;
    a9 = a9 * m + c;
    a10 = a10 * m + c;
    a11 = a11 * m + c;
  }
  const auto stop = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(stop - start).count();

  // the sum depends on every chain's last value, so none of the work can be dropped
  const V total = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
  double sum = 0;
  for (int lane = 0; lane < LANES; ++lane) sum += total[lane];

  const double flops = 2.0 * CHAINS * LANES * static_cast<double>(iterations);
  std::printf("%ld %d %.9f %.6f %.9g\n", iterations, LANES, seconds, flops / seconds * 1e-9, sum);
  return 0;
}
