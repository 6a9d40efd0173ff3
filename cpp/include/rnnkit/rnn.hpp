// Vanilla RNN layer over a whole sequence, forward and backward through time.
// Shapes use the letters of types.hpp; pointers documented "may be null"
// stand for zeros.
#pragma once

#include "rnnkit/types.hpp"

namespace rnnkit {

enum class Nonlinearity { tanh, relu };

// h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),  y_t = h_t.
//   y    (T, B, H)  out, or null to keep no step's output (inference)
//   h_n  (B, H)     out, the last step of y
//   x    (T, B, I)
//   h0   (B, H)     may be null
//   w_ih (H, I), w_hh (H, H), b_ih (H), b_hh (H)
template <class Real>
void rnn_forward(Real* y, Real* h_n, const Real* x, const Real* h0, const Real* w_ih,
                 const Real* w_hh, const Real* b_ih, const Real* b_hh, index_t T, index_t B,
                 index_t I, index_t H, Nonlinearity act);

// Gradients of a scalar loss given dy = dL/dy and dh_n = dL/dh_n. The stored
// outputs y give the activation's derivative, so no bias is needed.
//   dx (T, B, I), dh0 (B, H), dw_ih (H, I), dw_hh (H, H), db_ih (H), db_hh (H)
//                  out, all overwritten; dh0 is returned even when h0 was null
//   x, h0 (may be null), w_ih, w_hh as for the forward; y (T, B, H) its output
//   dy (T, B, H) may be null, dh_n (B, H) may be null
template <class Real>
void rnn_backward(Real* dx, Real* dh0, Real* dw_ih, Real* dw_hh, Real* db_ih, Real* db_hh,
                  const Real* y, const Real* x, const Real* h0, const Real* w_ih, const Real* w_hh,
                  const Real* dy, const Real* dh_n, index_t T, index_t B, index_t I, index_t H,
                  Nonlinearity act);

}  // namespace rnnkit
