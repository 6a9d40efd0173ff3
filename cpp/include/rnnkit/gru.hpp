// GRU layer over a whole sequence, forward and backward through time, in
// PyTorch's formulation and layout: the 3H gate rows of the weights are r, z, n.
// Pointers documented "may be null" stand for zeros.
#pragma once

#include "rnnkit/types.hpp"

namespace rnnkit {

//   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)     z alike
//   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
//   h_t = (1 - z) * n + z * h_{t-1},  y_t = h_t
//   y     (T, B, H)   out, or null to keep no step's output (inference)
//   h_n   (B, H)      out, the last step of y
//   gates (T, B, 4H)  out (or null: not kept), r, z, n after their activations, then
//                     W_hn h_{t-1} + b_hn: the backward needs it for dL/dr
//   x (T, B, I), h0 (B, H) may be null
//   w_ih (3H, I), w_hh (3H, H), b_ih (3H), b_hh (3H)
template <class Real>
void gru_forward(Real* y, Real* h_n, Real* gates, const Real* x, const Real* h0, const Real* w_ih,
                 const Real* w_hh, const Real* b_ih, const Real* b_hh, index_t T, index_t B,
                 index_t I, index_t H);

// Gradients of a scalar loss given dy = dL/dy and dh_n = dL/dh_n.
//   dx (T, B, I), dh0 (B, H), dw_ih (3H, I), dw_hh (3H, H), db_ih (3H),
//   db_hh (3H)            out, all overwritten
//   y, gates              the forward's outputs
//   x, h0, w_ih, w_hh     as for the forward (h0 may be null)
//   dy (T, B, H), dh_n (B, H)   each may be null
template <class Real>
void gru_backward(Real* dx, Real* dh0, Real* dw_ih, Real* dw_hh, Real* db_ih, Real* db_hh,
                  const Real* y, const Real* gates, const Real* x, const Real* h0, const Real* w_ih,
                  const Real* w_hh, const Real* dy, const Real* dh_n, index_t T, index_t B,
                  index_t I, index_t H);

}  // namespace rnnkit
