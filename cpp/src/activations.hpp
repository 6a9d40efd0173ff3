// Scalar activations of the cells. float uses a rational tanh that the
// compiler vectorises (libm's tanhf is a call per element, and the cells spend
// more time in it than in the matrix products at small sizes); double keeps
// libm, exact to the last bit of the reference. Compiled into every SIMD path
// (cells_impl.hpp), hence internal linkage: each path keeps its own copy.
#pragma once

#include <algorithm>
#include <cmath>

// The per-element functions of the cells (here and in cells_impl.hpp) are
// inlined whatever the compiler's budget: they run inside loops that must
// vectorise, and GCC stops inlining once a file has grown by --param
// inline-unit-growth (a path's file instantiates every cell, variant and dtype),
// leaving a call to tanh in the loop, which then runs scalar: the cells' row
// functions did, once the fused step had grown (scripts/check_vectorized.py).
#if defined(__GNUC__)
#define RNNKIT_ELEMENTWISE inline __attribute__((always_inline))
#else
#define RNNKIT_ELEMENTWISE inline
#endif

namespace rnnkit::detail {
namespace {

// Eigen's rational approximation of tanh (generic_fast_tanh_float): odd
// polynomial over even polynomial on [-7.9053, 7.9053], where it reaches
// +-1 in float. Branch-free, so loops over it vectorise. Measured absolute
// error below 5e-7 over the float range (tests/test_core.py).
RNNKIT_ELEMENTWISE float tanh_rational(float x) {
  constexpr float bound = 7.90531110763549805f;
  const float low = x < -bound ? -bound : x;
  const float clamped = low > bound ? bound : low;
  const float x2 = clamped * clamped;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 - 8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return clamped * p / q;
}

RNNKIT_ELEMENTWISE float tanh(float x) { return tanh_rational(x); }
RNNKIT_ELEMENTWISE double tanh(double x) { return std::tanh(x); }

// float: through tanh, branch-free; its absolute error is half tanh's.
RNNKIT_ELEMENTWISE float sigmoid(float x) { return 0.5f + 0.5f * tanh_rational(0.5f * x); }

// double: split on the sign so that exp never overflows and a small result
// keeps its full relative precision.
RNNKIT_ELEMENTWISE double sigmoid(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

}  // namespace
}  // namespace rnnkit::detail
