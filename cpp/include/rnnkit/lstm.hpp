// LSTM layer over a whole sequence, forward and backward through time, in
// PyTorch's layout: the 4H gate rows of the weights are i, f, g, o.
// Pointers documented "may be null" stand for zeros.
#pragma once

#include "rnnkit/types.hpp"

namespace rnnkit {

// The LSTM and Greff et al.'s variants of it ("LSTM: A Search Space Odyssey",
// IEEE TNNLS 2017), each one change to the vanilla cell below:
//   nig   no input gate:         i = 1
//   nfg   no forget gate:        f = 1
//   nog   no output gate:        o = 1
//   niaf  no input activation:   g = its pre-activation (no tanh)
//   noaf  no output activation:  h = o * c (no tanh)
//   cifg  coupled input-forget:  f = 1 - i
// Every variant keeps the vanilla layout (4H gate rows); the rows of a gate a
// variant does not use (i for nig, f for nfg and cifg, o for nog) have no
// effect on the output, so their gradients are exactly zero. The saved gates
// hold the values used (1 for a dropped gate, 1 - i for cifg's f, the
// pre-activation for niaf's g).
enum class LstmVariant { vanilla, nig, nfg, nog, niaf, noaf, cifg };
constexpr int kLstmVariants = 7;

//   i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     f, o alike
//   g = tanh(W_ig x + b_ig + W_hg h + b_hg)
//   c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t),  y_t = h_t
//   y     (T, B, H)   out, or null to keep no step's output (inference)
//   h_n   (B, H)      out, the last step of y
//   c_n   (B, H)      out, the last step of cells
//   gates (T, B, 4H)  out, i, f, g, o after their activations, or null
//   cells (T, B, H)   out, c_1 .. c_T, or null
// Null outputs are not computed into memory at all: the states of two steps
// take turns, and each tile's gates live in registers and L1 only.
//   x (T, B, I), h0 (B, H) may be null, c0 (B, H) may be null
//   w_ih (4H, I), w_hh (4H, H), b_ih (4H), b_hh (4H)
template <class Real>
void lstm_forward(Real* y, Real* h_n, Real* c_n, Real* gates, Real* cells, const Real* x,
                  const Real* h0, const Real* c0, const Real* w_ih, const Real* w_hh,
                  const Real* b_ih, const Real* b_hh, index_t T, index_t B, index_t I, index_t H,
                  LstmVariant variant = LstmVariant::vanilla);

// Gradients of a scalar loss given dy = dL/dy, dh_n = dL/dh_n, dc_n = dL/dc_n.
//   dx (T, B, I), dh0 (B, H), dc0 (B, H), dw_ih (4H, I), dw_hh (4H, H),
//   db_ih (4H), db_hh (4H)   out, all overwritten
//   y, gates, cells          the forward's saved activations
//   x, h0, c0, w_ih, w_hh    as for the forward (h0, c0 may be null)
//   dy (T, B, H), dh_n (B, H), dc_n (B, H)   each may be null
template <class Real>
void lstm_backward(Real* dx, Real* dh0, Real* dc0, Real* dw_ih, Real* dw_hh, Real* db_ih,
                   Real* db_hh, const Real* y, const Real* gates, const Real* cells, const Real* x,
                   const Real* h0, const Real* c0, const Real* w_ih, const Real* w_hh,
                   const Real* dy, const Real* dh_n, const Real* dc_n, index_t T, index_t B,
                   index_t I, index_t H, LstmVariant variant = LstmVariant::vanilla);

}  // namespace rnnkit
