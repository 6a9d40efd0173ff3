// Vanilla RNN, forward and backward through time. Size letters in types.hpp.
#include "rnnkit/rnn.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "rnnkit/activations.hpp"
#include "rnnkit/gemm.hpp"
#include "rnnkit/parallel.hpp"
#include "sequence.hpp"

namespace rnnkit {

namespace {

// z <- act(z) over n elements, one loop per activation so each vectorises.
template <class Real>
void activate(Real* z, index_t n, Nonlinearity act) {
  if (act == Nonlinearity::tanh)
    for (index_t e = 0; e < n; ++e) z[e] = rnnkit::tanh(z[e]);
  else
    for (index_t e = 0; e < n; ++e) z[e] = z[e] > Real(0) ? z[e] : Real(0);
}

// dz = (dh + dy) * act'(.), act' read off the output y: tanh' = 1 - y^2,
// relu' = [y > 0]. Restrict pointers let the loops vectorise.
template <class Real>
void activation_backward(Real* __restrict dz, const Real* __restrict dh, const Real* __restrict dy,
                         const Real* __restrict y, index_t n, Nonlinearity act) {
  if (act == Nonlinearity::tanh)
    for (index_t e = 0; e < n; ++e) dz[e] = (dh[e] + dy[e]) * (Real(1) - y[e] * y[e]);
  else
    for (index_t e = 0; e < n; ++e) dz[e] = y[e] > Real(0) ? dh[e] + dy[e] : Real(0);
}

}  // namespace

template <class Real>
void rnn_forward(Real* y, Real* h_n, const Real* x, const Real* h0, const Real* w_ih,
                 const Real* w_hh, const Real* b_ih, const Real* b_hh, index_t T, index_t B,
                 index_t I, index_t H, Nonlinearity act) {
  const index_t BH = B * H;
  // y (T*B, H) first holds the pre-activations x_t W_ih^T + b_ih + b_hh.
  detail::input_projection(y, x, w_ih, b_ih, b_hh, T * B, I, H);
  const PackedMatrix<Real> w_hh_t(w_hh, H, Op::T, H, H);  // W_hh^T, reused at every step
  for (index_t t = 0; t < T; ++t) {
    Real* const y_t = y + t * BH;
    const Real* const h_prev = t > 0 ? y_t - BH : h0;
    // y_t += h_{t-1} W_hh^T   (B, H) x (H, H)
    if (h_prev != nullptr) gemm(y_t, H, h_prev, H, Op::N, w_hh_t, B, Update::accumulate);
    // h_t = act(y_t), in place; each row is its own.
    parallel_for(B, double(BH), [=](index_t b) { activate(y_t + b * H, H, act); });
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
  detail::copy_or_zero(dh, dh_n, BH);
  const PackedMatrix<Real> w_hh_packed(w_hh, H, Op::N, H, H);
  // A missing dy reads as a row of zeros, so the loop has no branch and vectorises.
  const std::vector<Real> zeros(dy == nullptr ? BH : 0);

  for (index_t t = T - 1; t >= 0; --t) {
    const Real* const y_t = y + t * BH;
    const Real* const dy_t = dy != nullptr ? dy + t * BH : zeros.data();
    Real* const dz_t = dz.data() + t * BH;
    // dz_t = (dh_t + dy_t) * act'(.); each row is its own.
    parallel_for(B, double(BH), [=](index_t b) {
      const index_t e = b * H;
      activation_backward(dz_t + e, dh + e, dy_t + e, y_t + e, H, act);
    });
    // dh_{t-1} = dz_t W_hh   (B, H) x (H, H)
    gemm(dh, H, dz_t, H, Op::N, w_hh_packed, B, Update::overwrite);
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
