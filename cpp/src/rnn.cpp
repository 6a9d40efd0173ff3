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
  detail::StepStates<Real> h(y, BH);
  const double work = double(T) * double(BH) * double(1 + I + H + kActivationCost);
  // h_t = act(b_ih + b_hh + x_t W_ih^T + h_{t-1} W_hh^T), tile by tile.
  detail::forward_steps(
      weights.projected(I), T, B, I, H, x, w_ih, y, weights.tiles(), work, weights.bytes(),
      [&](index_t t, index_t b0, index_t b1, detail::StepTiles tiles, const Real* pre) {
        const index_t e = b0 * H;
        const Real* const h_prev = t > 0 ? h.at(t - 1) + e : h0 != nullptr ? h0 + e : nullptr;
        step(packed, tiles, b1 - b0, x + (t * B + b0) * I, pre, h_prev, h.at(t) + e, act);
      });
  std::copy(h.at(T - 1), h.at(T - 1) + BH, h_n);
}

template <class Real>
void rnn_backward(Real* dx, Real* dh0, Real* dw_ih, Real* dw_hh, Real* db_ih, Real* db_hh,
                  const Real* y, const Real* x, const Real* h0, const Real* w_ih, const Real* w_hh,
                  const Real* dy, const Real* dh_n, index_t T, index_t B, index_t I, index_t H,
                  Nonlinearity act) {
  const KernelScope scope;
  const index_t BH = B * H;
  // dz (B, H) a step: dL/d(pre-activation), kept a chunk of steps at a time
  // for the weight and input gradients; every value is written before it is
  // read.
  detail::BackwardRows<Real> dz(T, B, H);
  const detail::StepWeights<Real> weights(w_hh, H, H, H);
  const auto activation_backward = weights.path().activation_backward;
  const auto step = weights.path().rnn_step_backward;
  const detail::PackedStep<Real> packed = weights.packed();
  // A missing dy or dh_n reads as rows of zeros, so the loops have no branch.
  const std::vector<Real> zeros(dy == nullptr || dh_n == nullptr ? BH : 0);
  const auto dy_at = [&](index_t t) { return dy != nullptr ? dy + t * BH : zeros.data(); };
  // dz_{T-1} from dL/dh_{T-1} = dh_n + dy_{T-1}; each row is its own.
  const Real* const dh_last = dh_n != nullptr ? dh_n : zeros.data();
  parallel_for(B, kActivationBackwardCost * double(BH), [&](index_t b) {
    const index_t e = (T - 1) * BH + b * H;
    activation_backward(dz.at(T - 1) + b * H, dh_last + b * H, dy_at(T - 1) + b * H, y + e, H, act);
  });
  // Back through the steps t = T - 1 .. 0: dL/dh_{t-1} = dz_t W_hh, tile by
  // tile, each tile going on with dz_{t-1} for its units (at t = 0 it is
  // dL/dh0 and ends there); after every chunk of steps, dx, dW_ih, the bias
  // and dW_hh take its rows of dz.
  const double work = double(T) * double(BH) * double(H + kActivationBackwardCost);
  detail::backward_steps(
      dz, T, B, weights.tiles(), work, weights.bytes(),
      [&](index_t t, index_t b0, index_t b1, detail::StepTiles tiles) {
        const index_t e = b0 * H;
        const bool first = t == 0;
        step(packed, tiles, b1 - b0, dz.at(t) + e, first ? nullptr : dz.at(t - 1) + e, dh0 + e,
             first ? nullptr : y + (t - 1) * BH + e, first ? nullptr : dy_at(t - 1) + e, act);
      },
      [&](detail::StepRange range) {
        const Real* const rows = dz.at(range.t0);
        detail::input_gradients(dx, dw_ih, db_ih, rows, H, x, w_ih, B, I, H, range);
        detail::recurrent_weight_gradient(dw_hh, rows, H, y, h0, B, H, H, range);
      });
  std::copy(db_ih, db_ih + H, db_hh);
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
