// LSTM, forward and backward through time. Size letters in types.hpp; gate
// columns of a (B, 4H) row are [i | f | g | o], H each.
#include "rnnkit/lstm.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "rnnkit/activations.hpp"
#include "rnnkit/gemm.hpp"
#include "rnnkit/parallel.hpp"
#include "sequence.hpp"

namespace rnnkit {

namespace {

// The cell update of one batch row, over its H units. Every array gets its
// own restrict pointer (the four gates are slices of one row) so that the
// compiler may vectorise without checking for overlap.
//   i, f, g, o   in: pre-activations; out: the gates after their activations
//   c_t, h_t     out; c_prev in
template <class Real>
void cell_forward(Real* __restrict i, Real* __restrict f, Real* __restrict g, Real* __restrict o,
                  Real* __restrict c_t, Real* __restrict h_t, const Real* __restrict c_prev,
                  index_t H) {
  for (index_t j = 0; j < H; ++j) {
    i[j] = sigmoid(i[j]);
    f[j] = sigmoid(f[j]);
    g[j] = rnnkit::tanh(g[j]);
    o[j] = sigmoid(o[j]);
    c_t[j] = f[j] * c_prev[j] + i[j] * g[j];
    h_t[j] = o[j] * rnnkit::tanh(c_t[j]);
  }
}

// Its backward, for one batch row:
//   dc += dh * o * (1 - tanh(c_t)^2)          (dh = dL/dh_t + dy_t)
//   da_i = dc * g * i(1 - i)        da_f = dc * c_{t-1} * f(1 - f)
//   da_g = dc * i * (1 - g^2)       da_o = dh * tanh(c_t) * o(1 - o)
//   dc <- dc * f                    (dL/dc_{t-1})
template <class Real>
void cell_backward(Real* __restrict da_i, Real* __restrict da_f, Real* __restrict da_g,
                   Real* __restrict da_o, Real* __restrict dc, const Real* __restrict i,
                   const Real* __restrict f, const Real* __restrict g, const Real* __restrict o,
                   const Real* __restrict c_t, const Real* __restrict c_prev,
                   const Real* __restrict dh, const Real* __restrict dy_t, index_t H) {
  for (index_t j = 0; j < H; ++j) {
    const Real tc = rnnkit::tanh(c_t[j]);
    const Real dh_j = dh[j] + dy_t[j];
    const Real dc_j = dc[j] + dh_j * o[j] * (Real(1) - tc * tc);
    da_i[j] = dc_j * g[j] * i[j] * (Real(1) - i[j]);
    da_f[j] = dc_j * c_prev[j] * f[j] * (Real(1) - f[j]);
    da_g[j] = dc_j * i[j] * (Real(1) - g[j] * g[j]);
    da_o[j] = dh_j * tc * o[j] * (Real(1) - o[j]);
    dc[j] = dc_j * f[j];
  }
}

}  // namespace

template <class Real>
void lstm_forward(Real* y, Real* h_n, Real* c_n, Real* gates, Real* cells, const Real* x,
                  const Real* h0, const Real* c0, const Real* w_ih, const Real* w_hh,
                  const Real* b_ih, const Real* b_hh, index_t T, index_t B, index_t I, index_t H) {
  const index_t BH = B * H, GH = 4 * H;
  // gates (T*B, 4H) first holds the pre-activations x_t W_ih^T + b_ih + b_hh.
  detail::input_projection(gates, x, w_ih, b_ih, b_hh, T * B, I, GH);
  const PackedMatrix<Real> w_hh_t(w_hh, H, Op::T, H, GH);  // W_hh^T, reused at every step
  // A missing c0 reads as a row of zeros, so the cell loop has no branch and vectorises.
  const std::vector<Real> zeros(c0 == nullptr ? BH : 0);
  for (index_t t = 0; t < T; ++t) {
    Real* const gates_t = gates + t * B * GH;
    Real* const c_t = cells + t * BH;
    Real* const h_t = y + t * BH;
    const Real* const h_prev = t > 0 ? h_t - BH : h0;
    const Real* const c_prev = t > 0 ? c_t - BH : c0 != nullptr ? c0 : zeros.data();
    // gates_t += h_{t-1} W_hh^T   (B, 4H) x (4H, H)^T
    if (h_prev != nullptr) gemm(gates_t, GH, h_prev, H, Op::N, w_hh_t, B, Update::accumulate);
    // i, f, o = sigmoid(.), g = tanh(.), in place;
    // c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t). Each row is its own;
    // a transcendental costs about as much as 8 multiply-adds.
    parallel_for(B, 8.0 * double(BH), [=](index_t b) {
      Real* const row = gates_t + b * GH;
      cell_forward(row, row + H, row + 2 * H, row + 3 * H, c_t + b * H, h_t + b * H, c_prev + b * H,
                   H);
    });
  }
  std::copy(y + (T - 1) * BH, y + T * BH, h_n);
  std::copy(cells + (T - 1) * BH, cells + T * BH, c_n);
}

template <class Real>
void lstm_backward(Real* dx, Real* dh0, Real* dc0, Real* dw_ih, Real* dw_hh, Real* db_ih,
                   Real* db_hh, const Real* y, const Real* gates, const Real* cells, const Real* x,
                   const Real* h0, const Real* c0, const Real* w_ih, const Real* w_hh,
                   const Real* dy, const Real* dh_n, const Real* dc_n, index_t T, index_t B,
                   index_t I, index_t H) {
  const index_t BH = B * H, GH = 4 * H;
  // dg (T*B, 4H): dL/d(pre-activation) of every gate and step, for the
  // products after the loop.
  std::vector<Real> dg(static_cast<std::size_t>(T * B * GH));
  // dh and dc (B, H) carry dL/dh_t and dL/dc_t back through time; they end
  // as dL/dh0 and dL/dc0.
  Real* const dh = dh0;
  Real* const dc = dc0;
  detail::copy_or_zero(dh, dh_n, BH);
  detail::copy_or_zero(dc, dc_n, BH);
  const PackedMatrix<Real> w_hh_packed(w_hh, H, Op::N, GH, H);
  // A missing c0 or dy reads as a row of zeros, so the loop has no branch and vectorises.
  const std::vector<Real> zeros(c0 == nullptr || dy == nullptr ? BH : 0);

  for (index_t t = T - 1; t >= 0; --t) {
    const Real* const gates_t = gates + t * B * GH;
    const Real* const c_t = cells + t * BH;
    const Real* const c_prev = t > 0 ? c_t - BH : c0 != nullptr ? c0 : zeros.data();
    const Real* const dy_t = dy != nullptr ? dy + t * BH : zeros.data();
    Real* const dg_t = dg.data() + t * B * GH;
    // dg_t from dh = dL/dh_t and dc = dL/dc_t (cell_backward); each row is its own.
    parallel_for(B, 8.0 * double(BH), [=](index_t b) {
      const Real* const row = gates_t + b * GH;
      Real* const drow = dg_t + b * GH;
      const index_t e = b * H;
      cell_backward(drow, drow + H, drow + 2 * H, drow + 3 * H, dc + e, row, row + H, row + 2 * H,
                    row + 3 * H, c_t + e, c_prev + e, dh + e, dy_t + e, H);
    });
    // dh_{t-1} = dg_t W_hh   (B, 4H) x (4H, H)
    gemm(dh, H, dg_t, GH, Op::N, w_hh_packed, B, Update::overwrite);
  }
  detail::input_and_weight_gradients(dx, dw_ih, dw_hh, db_ih, db_hh, dg.data(), x, h0, y, w_ih, T,
                                     B, I, H, GH);
}

#define RNNKIT_INSTANTIATE(Real)                                                                  \
  template void lstm_forward<Real>(Real*, Real*, Real*, Real*, Real*, const Real*, const Real*,   \
                                   const Real*, const Real*, const Real*, const Real*,            \
                                   const Real*, index_t, index_t, index_t, index_t);              \
  template void lstm_backward<Real>(Real*, Real*, Real*, Real*, Real*, Real*, Real*, const Real*, \
                                    const Real*, const Real*, const Real*, const Real*,           \
                                    const Real*, const Real*, const Real*, const Real*,           \
                                    const Real*, const Real*, index_t, index_t, index_t, index_t);
RNNKIT_INSTANTIATE(float)
RNNKIT_INSTANTIATE(double)
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
