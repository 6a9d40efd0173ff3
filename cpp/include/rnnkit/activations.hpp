// Scalar activations shared by the cells, in the exact (libm) form.
#pragma once

#include <cmath>

namespace rnnkit {

// Split on the sign so that exp never overflows and a small result keeps its
// full relative precision.
template <class Real>
inline Real sigmoid(Real x) {
  if (x >= Real(0)) return Real(1) / (Real(1) + std::exp(-x));
  const Real e = std::exp(x);
  return e / (Real(1) + e);
}

}  // namespace rnnkit
