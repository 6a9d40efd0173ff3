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
  const detail::StepWeights<Real> weights(w_ih, w_hh, b_ih, b_hh, I, H, H);
  const auto activate = detail::path_of(weights.packed()).activate;
  const double work = double(T) * double(BH) * double(1 + I + H + kActivationCost);
  // Rows [b0, b1) of the batch through every step.
  detail::over_batch_rows(B, work, weights.bytes(), [&](index_t b0, index_t b1) {
    const index_t rows = b1 - b0;
    std::vector<Real> xh = weights.scratch(rows);
    for (index_t t = 0; t < T; ++t) {
      Real* const y_t = y + t * BH + b0 * H;
      const Real* const h_prev = t > 0 ? y_t - BH : h0 != nullptr ? h0 + b0 * H : nullptr;
      // y_t = b_ih + b_hh + x_t W_ih^T + h_{t-1} W_hh^T   (rows, H)
      weights.project(y_t, H, x + (t * B + b0) * I, h_prev, rows, xh.data());
      // h_t = act(y_t), in place; each row is its own. The row's block of
      // the next step comes into cache meanwhile, for the product to write.
      const bool last = t == T - 1;
      parallel_for(rows, kActivationCost * double(rows * H), [=](index_t b) {
        if (!last) detail::prefetch_for_writing(y_t + (B + b) * H, H);
        activate(y_t + b * H, H, act);
      });
    }
  });
  std::copy(y + (T - 1) * BH, y + T * BH, h_n);
}

template <class Real>
void rnn_backward(Real* dx, Real* dh0, Real* dw_ih, Real* dw_hh, Real* db_ih, Real* db_hh,
                  const Real* y, const Real* x, const Real* h0, const Real* w_ih, const Real* w_hh,
                  const Real* dy, const Real* dh_n, index_t T, index_t B, index_t I, index_t H,
                  Nonlinearity act) {
  const KernelScope scope;
  const index_t BH = B * H;
  // dz (T*B, H): dL/d(pre-activation) of every step, for dx and the weight
  // gradients after the loop; every value is written before it is read.
  const detail::Workspace<Real> dz(T * BH);
  // dh (B, H) carries dL/dh_t back through time; it ends as dL/dh0.
  Real* const dh = dh0;
  detail::copy_or_zero(dh, dh_n, BH);
  const PackedMatrix<Real> w_hh_packed(w_hh, H, Op::N, H, H);
  const auto activation_backward = detail::path_of(w_hh_packed).activation_backward;
  // A missing dy reads as rows of zeros, so the loop has no branch and vectorises.
  const std::vector<Real> zeros(dy == nullptr ? BH : 0);
  const double work = double(T) * double(BH) * double(H + kActivationBackwardCost);
  const std::size_t weight_bytes = sizeof(Real) * std::size_t(H) * std::size_t(H);
  // Rows [b0, b1) of the batch back through every step.
  detail::over_batch_rows(B, work, weight_bytes, [&](index_t b0, index_t b1) {
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
      // dh_{t-1} = dz_t W_hh  (rows, H) x (H, H)
      gemm(dh_rows, H, dz_t, H, Op::N, w_hh_packed, rows, Update::overwrite);
    }
  });
  detail::input_gradients(dx, dw_ih, db_ih, dz.data(), H, x, w_ih, T * B, I, H);
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
