// Size letters used throughout the kernels:
//   T  time steps          B  batch (independent sequences)
//   I  input features      H  hidden units
//   G  gates per cell (1 for the RNN, 4 for the LSTM: i, f, g, o, 3 for the
//      GRU: r, z, n)
// Every buffer is C-contiguous and time-major: a sequence is (T, B, features).
#pragma once

#include <cstddef>

namespace rnnkit {

// Signed, so that loops counting down and differences of indices stay simple.
using index_t = std::ptrdiff_t;

}  // namespace rnnkit
