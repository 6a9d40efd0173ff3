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

template <class Real>
void lstm_forward(Real* y, Real* h_n, Real* c_n, Real* gates, Real* cells, const Real* x,
                  const Real* h0, const Real* c0, const Real* w_ih, const Real* w_hh,
                  const Real* b_ih, const Real* b_hh, index_t T, index_t B, index_t I, index_t H) {
  const index_t BH = B * H, GH = 4 * H;
  // gates (T*B, 4H) first holds the pre-activations x_t W_ih^T + b_ih + b_hh.
  detail::input_projection(gates, x, w_ih, b_ih, b_hh, T * B, I, GH);
  for (index_t t = 0; t < T; ++t) {
    Real* const gates_t = gates + t * B * GH;
    Real* const c_t = cells + t * BH;
    Real* const h_t = y + t * BH;
    const Real* const h_prev = t > 0 ? h_t - BH : h0;
    const Real* const c_prev = t > 0 ? c_t - BH : c0;
    // gates_t += h_{t-1} W_hh^T   (B, 4H) x (4H, H)^T
    if (h_prev != nullptr)
      gemm(gates_t, GH, h_prev, H, Op::N, w_hh, H, Op::T, B, GH, H, Update::accumulate);
    // i, f, o = sigmoid(.), g = tanh(.), in place;
    // c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t). Each row is its own;
    // a transcendental costs about as much as 8 multiply-adds.
    parallel_for(B, 8.0 * double(BH), [=](index_t b) {
      Real* const row = gates_t + b * GH;
      for (index_t j = 0; j < H; ++j) {
        const Real i = sigmoid(row[j]);
        const Real f = sigmoid(row[H + j]);
        const Real g = std::tanh(row[2 * H + j]);
        const Real o = sigmoid(row[3 * H + j]);
        row[j] = i;
        row[H + j] = f;
        row[2 * H + j] = g;
        row[3 * H + j] = o;
        const Real c = c_prev != nullptr ? f * c_prev[b * H + j] + i * g : i * g;
        c_t[b * H + j] = c;
        h_t[b * H + j] = o * std::tanh(c);
      }
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
  if (dh_n != nullptr)
    std::copy(dh_n, dh_n + BH, dh);
  else
    std::fill(dh, dh + BH, Real(0));
  if (dc_n != nullptr)
    std::copy(dc_n, dc_n + BH, dc);
  else
    std::fill(dc, dc + BH, Real(0));

  for (index_t t = T - 1; t >= 0; --t) {
    const Real* const gates_t = gates + t * B * GH;
    const Real* const c_t = cells + t * BH;
    const Real* const c_prev = t > 0 ? c_t - BH : c0;
    const Real* const dy_t = dy != nullptr ? dy + t * BH : nullptr;
    Real* const dg_t = dg.data() + t * B * GH;
    // With dh = dL/dh_t (+ dy_t) and dc = dL/dc_t from step t + 1:
    //   dc += dh * o * (1 - tanh(c_t)^2)
    //   da_i = dc * g * i(1 - i)        da_f = dc * c_{t-1} * f(1 - f)
    //   da_g = dc * i * (1 - g^2)       da_o = dh * tanh(c_t) * o(1 - o)
    //   dL/dc_{t-1} = dc * f
    // Each row is its own.
    parallel_for(B, 8.0 * double(BH), [=](index_t b) {
      const Real* const row = gates_t + b * GH;
      Real* const drow = dg_t + b * GH;
      for (index_t j = 0; j < H; ++j) {
        const index_t e = b * H + j;
        const Real i = row[j], f = row[H + j], g = row[2 * H + j], o = row[3 * H + j];
        const Real tc = std::tanh(c_t[e]);
        const Real dh_e = dy_t != nullptr ? dh[e] + dy_t[e] : dh[e];
        const Real dc_e = dc[e] + dh_e * o * (Real(1) - tc * tc);
        const Real cp = c_prev != nullptr ? c_prev[e] : Real(0);
        drow[j] = dc_e * g * i * (Real(1) - i);
        drow[H + j] = dc_e * cp * f * (Real(1) - f);
        drow[2 * H + j] = dc_e * i * (Real(1) - g * g);
        drow[3 * H + j] = dh_e * tc * o * (Real(1) - o);
        dc[e] = dc_e * f;
      }
    });
    // dh_{t-1} = dg_t W_hh   (B, 4H) x (4H, H)
    gemm(dh, H, dg_t, GH, Op::N, w_hh, H, Op::N, B, H, GH, Update::overwrite);
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
