// The work a recurrent layer does once per sequence, before and after its
// time loop, the same for every cell: G is 1 for the RNN, 4 for the LSTM and
// GH = G * H is the width of the pre-activations. Private to the kernels.
#pragma once

#include <algorithm>

#include "rnnkit/gemm.hpp"
#include "rnnkit/parallel.hpp"
#include "rnnkit/types.hpp"

namespace rnnkit::detail {

// dst (n) = src, or zeros when src is null: an incoming state or gradient.
template <class Real>
void copy_or_zero(Real* dst, const Real* src, index_t n) {
  if (src != nullptr)
    std::copy(src, src + n, dst);
  else
    std::fill(dst, dst + n, Real(0));
}

// pre = x W_ih^T + b_ih + b_hh for all T steps in one product: the loop then
// adds only the recurrent term.
//   pre (T*B, GH) out, x (T*B, I), w_ih (GH, I), b_ih, b_hh (GH)
template <class Real>
void input_projection(Real* pre, const Real* x, const Real* w_ih, const Real* b_ih,
                      const Real* b_hh, index_t TB, index_t I, index_t GH) {
  gemm(pre, GH, x, I, Op::N, w_ih, I, Op::T, TB, GH, I, Update::overwrite);
  // Each row is its own.
  parallel_for(TB, double(TB) * double(GH), [=](index_t r) {
    for (index_t j = 0; j < GH; ++j) pre[r * GH + j] += b_ih[j] + b_hh[j];
  });
}

// Input and weight gradients from dg, the loss's gradient with respect to
// every step's pre-activations, once the backward loop has filled it:
//   dx = dg W_ih,  dW_ih = dg^T x,  dW_hh = sum_t dg_t^T h_{t-1},  db = sum dg.
// h_{t-1} is h0 for t = 0 (zero when h0 is null) and y_{t-1} after it.
//   dx (T*B, I), dw_ih (GH, I), dw_hh (GH, H), db_ih, db_hh (GH)  out, overwritten
//   dg (T*B, GH), x (T*B, I), h0 (B, H) may be null, y (T*B, H), w_ih (GH, I)
template <class Real>
void input_and_weight_gradients(Real* dx, Real* dw_ih, Real* dw_hh, Real* db_ih, Real* db_hh,
                                const Real* dg, const Real* x, const Real* h0, const Real* y,
                                const Real* w_ih, index_t T, index_t B, index_t I, index_t H,
                                index_t GH) {
  const index_t TB = T * B;
  gemm(dx, I, dg, GH, Op::N, w_ih, I, Op::N, TB, I, GH, Update::overwrite);
  gemm(dw_ih, I, dg, GH, Op::T, x, I, Op::N, GH, I, TB, Update::overwrite);
  gemm(dw_hh, H, dg + B * GH, GH, Op::T, y, H, Op::N, GH, H, (T - 1) * B, Update::overwrite);
  if (h0 != nullptr) gemm(dw_hh, H, dg, GH, Op::T, h0, H, Op::N, GH, H, B, Update::accumulate);

  std::fill(db_ih, db_ih + GH, Real(0));
  for (index_t r = 0; r < TB; ++r)
    for (index_t j = 0; j < GH; ++j) db_ih[j] += dg[r * GH + j];
  std::copy(db_ih, db_ih + GH, db_hh);
}

}  // namespace rnnkit::detail
