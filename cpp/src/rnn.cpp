// Vanilla RNN, forward and backward through time. Size letters in types.hpp.
#include "rnnkit/rnn.hpp"

#include <algorithm>
#include <vector>

#include "rnnkit/gemm.hpp"
#include "rnnkit/parallel.hpp"
#include "sequence.hpp"
#include "simd_dispatch.hpp"

namespace rnnkit {

namespace {

// One unit's tanh costs as long as about 16 multiply-adds of the matrix
// product (which runs 32 of them a cycle); the backward's few products per
// unit, about 4. What a parallel region is worth is judged in those.
constexpr double kActivationCost = 16;
constexpr double kActivationBackwardCost = 4;

}  // namespace

template <class Real>
void rnn_forward(Real* y, Real* h_n, const Real* x, const Real* h0, const Real* w_ih,
                 const Real* w_hh, const Real* b_ih, const Real* b_hh, index_t T, index_t B,
                 index_t I, index_t H, Nonlinearity act) {
  const KernelScope scope;
  const index_t BH = B * H;
  const detail::StepWeights<Real> weights(w_ih, w_hh, b_ih, b_hh, 1, I, H);
  const auto step = weights.path().rnn_step;
  const detail::PackedStep<Real> packed = weights.packed();
  // Without y to keep every step's state in, two steps' worth take turns.
  std::vector<Real> turns(static_cast<std::size_t>(y == nullptr ? 2 * BH : 0));
  const auto h_at = [&](index_t t) {
    return y != nullptr ? y + t * BH : turns.data() + (t % 2) * BH;
  };
  const double work = double(T) * double(BH) * double(1 + I + H + kActivationCost);
  // h_t = act(b_ih + b_hh + x_t W_ih^T + h_{t-1} W_hh^T), tile by tile.
  detail::over_steps(
      T, B, weights.tiles(), work, weights.bytes(),
      [&](index_t t, index_t b0, index_t b1, index_t j0, index_t j1) {
        const index_t e = b0 * H;
        const Real* const h_prev = t > 0 ? h_at(t - 1) + e : h0 != nullptr ? h0 + e : nullptr;
        step(packed, j0, j1, b1 - b0, x + (t * B + b0) * I, h_prev, h_at(t) + e, act);
      });
  std::copy(h_at(T - 1), h_at(T - 1) + BH, h_n);
}

template <class Real>
void rnn_backward(Real* dx, Real* dh0, Real* dw_ih, Real* dw_hh, Real* db_ih, Real* db_hh,
                  const Real* y, const Real* x, const Real* h0, const Real* w_ih, const Real* w_hh,
                  const Real* dy, const Real* dh_n, index_t T, index_t B, index_t I, index_t H,
                  Nonlinearity act) {
  const KernelScope scope;
  const index_t BH = B * H;
  // dz (T*B, H): dL/d(pre-activation) of every step, for dW_hh after the
  // loop; every value is written before it is read.
  const detail::Workspace<Real> dz(T * BH);
  // dh (B, H) carries dL/dh_t back through time; it ends as dL/dh0.
  Real* const dh = dh0;
  detail::copy_or_zero(dh, dh_n, BH);
  const PackedMatrix<Real> w_hh_packed(w_hh, H, Op::N, H, H);
  const auto activation_backward = detail::path_of(w_hh_packed).activation_backward;
  // A missing dy reads as rows of zeros, so the loop has no branch and vectorises.
  const std::vector<Real> zeros(dy == nullptr ? BH : 0);
  const double work = double(T) * double(BH) * double(H + I + kActivationBackwardCost);
  const std::size_t weight_bytes = sizeof(Real) * std::size_t(H) * std::size_t(H + I);
  // Rows [b0, b1) of the batch back through every step; the weight and bias
  // gradients sum over all rows, so they join in here only with all of them.
  const bool split = detail::over_batch_rows(B, work, weight_bytes, [&](index_t b0, index_t b1) {
    const index_t rows = b1 - b0;
    for (index_t t = T - 1; t >= 0; --t) {
      const Real* const y_t = y + t * BH + b0 * H;
      const Real* const dy_t = (dy != nullptr ? dy + t * BH : zeros.data()) + b0 * H;
      Real* const dz_t = dz.data() + t * BH + b0 * H;
      Real* const dh_rows = dh + b0 * H;
      // dz_t = (dh_t + dy_t) * act'(.); each row is its own.
      parallel_for(rows, kActivationBackwardCost * double(rows * H), [=](index_t b) {
        const index_t e = b * H;
        activation_backward(dz_t + e, dh_rows + e, dy_t + e, y_t + e, H, act);
      });
      // dh_{t-1} = dz_t W_hh  (rows, H) x (H, H);  dx_t = dz_t W_ih  (rows, H) x (H, I)
      gemm(dh_rows, H, dz_t, H, Op::N, w_hh_packed, rows, Update::overwrite);
      gemm(dx + (t * B + b0) * I, I, dz_t, H, Op::N, w_ih, I, Op::N, rows, I, H, Update::overwrite);
      if (rows == B)
        detail::step_weight_gradients(dw_ih, db_ih, dz_t, H, x + t * B * I, B, I, H, t == T - 1);
    }
  });
  if (split) detail::input_weight_gradients(dw_ih, db_ih, dz.data(), H, x, T, B, I, H);
  std::copy(db_ih, db_ih + H, db_hh);
  detail::recurrent_weight_gradient(dw_hh, dz.data(), H, y, h0, T, B, H, H);
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
