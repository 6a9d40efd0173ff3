// Vanilla RNN, forward and backward through time. Size letters in types.hpp.
#include "rnnkit/rnn.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "rnnkit/gemm.hpp"
#include "rnnkit/parallel.hpp"
#include "sequence.hpp"

namespace rnnkit {

template <class Real>
void rnn_forward(Real* y, Real* h_n, const Real* x, const Real* h0, const Real* w_ih,
                 const Real* w_hh, const Real* b_ih, const Real* b_hh, index_t T, index_t B,
                 index_t I, index_t H, Nonlinearity act) {
  const index_t BH = B * H;
  // y (T*B, H) first holds the pre-activations x_t W_ih^T + b_ih + b_hh.
  detail::input_projection(y, x, w_ih, b_ih, b_hh, T * B, I, H);
  for (index_t t = 0; t < T; ++t) {
    Real* const y_t = y + t * BH;
    const Real* const h_prev = t > 0 ? y_t - BH : h0;
    // y_t += h_{t-1} W_hh^T   (B, H) x (H, H)
    if (h_prev != nullptr)
      gemm(y_t, H, h_prev, H, Op::N, w_hh, H, Op::T, B, H, H, Update::accumulate);
    // h_t = act(y_t), in place; each row is its own.
    parallel_for(B, double(BH), [=](index_t b) {
      Real* const row = y_t + b * H;
      for (index_t j = 0; j < H; ++j)
        row[j] = act == Nonlinearity::tanh ? std::tanh(row[j]) : std::max(row[j], Real(0));
    });
  }
  std::copy(y + (T - 1) * BH, y + T * BH, h_n);
}

template <class Real>
void rnn_backward(Real* dx, Real* dh0, Real* dw_ih, Real* dw_hh, Real* db_ih, Real* db_hh,
                  const Real* y, const Real* x, const Real* h0, const Real* w_ih, const Real* w_hh,
                  const Real* dy, const Real* dh_n, index_t T, index_t B, index_t I, index_t H,
                  Nonlinearity act) {
  const index_t BH = B * H;
  // dz (T*B, H): dL/d(pre-activation) of every step, for the products after
  // the loop.
  std::vector<Real> dz(static_cast<std::size_t>(T * BH));
  // dh (B, H) carries dL/dh_t back through time; it ends as dL/dh0.
  Real* const dh = dh0;
  if (dh_n != nullptr)
    std::copy(dh_n, dh_n + BH, dh);
  else
    std::fill(dh, dh + BH, Real(0));

  for (index_t t = T - 1; t >= 0; --t) {
    const Real* const y_t = y + t * BH;
    const Real* const dy_t = dy != nullptr ? dy + t * BH : nullptr;
    Real* const dz_t = dz.data() + t * BH;
    // dz_t = (dh_t + dy_t) * act'(.), act' read off the output:
    // tanh' = 1 - y^2, relu' = [y > 0]. Each row is its own.
    parallel_for(B, double(BH), [=](index_t b) {
      for (index_t e = b * H; e < (b + 1) * H; ++e) {
        const Real g = dy_t != nullptr ? dh[e] + dy_t[e] : dh[e];
        dz_t[e] = act == Nonlinearity::tanh ? g * (Real(1) - y_t[e] * y_t[e])
                                            : (y_t[e] > Real(0) ? g : Real(0));
      }
    });
    // dh_{t-1} = dz_t W_hh   (B, H) x (H, H)
    gemm(dh, H, dz_t, H, Op::N, w_hh, H, Op::N, B, H, H, Update::overwrite);
  }
  detail::input_and_weight_gradients(dx, dw_ih, dw_hh, db_ih, db_hh, dz.data(), x, h0, y, w_ih, T,
                                     B, I, H, H);
}

#define RNNKIT_INSTANTIATE(Real)                                                                 \
  template void rnn_forward<Real>(Real*, Real*, const Real*, const Real*, const Real*,           \
                                  const Real*, const Real*, const Real*, index_t, index_t,       \
                                  index_t, index_t, Nonlinearity);                               \
  template void rnn_backward<Real>(Real*, Real*, Real*, Real*, Real*, Real*, const Real*,        \
                                   const Real*, const Real*, const Real*, const Real*,           \
                                   const Real*, const Real*, index_t, index_t, index_t, index_t, \
                                   Nonlinearity);
RNNKIT_INSTANTIATE(float)
RNNKIT_INSTANTIATE(double)
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
