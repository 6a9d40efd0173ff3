// LSTM, forward and backward through time. Size letters in types.hpp; gate
// columns of a (B, 4H) row are [i | f | g | o], H each.
#include "rnnkit/lstm.hpp"

#include <algorithm>
#include <vector>

#include "rnnkit/gemm.hpp"
#include "rnnkit/parallel.hpp"
#include "sequence.hpp"
#include "simd_dispatch.hpp"

namespace rnnkit {

namespace {

// One unit's cell update, forward or backward (five transcendentals or a
// dozen products and a tanh), costs as long as about 64 multiply-adds of the
// matrix product, which runs 32 of them a cycle: measured at H = 128, B = 64.
// What a parallel region is worth is judged in those multiply-adds.
constexpr double kCellCost = 64;

}  // namespace

template <class Real>
void lstm_forward(Real* y, Real* h_n, Real* c_n, Real* gates, Real* cells, const Real* x,
                  const Real* h0, const Real* c0, const Real* w_ih, const Real* w_hh,
                  const Real* b_ih, const Real* b_hh, index_t T, index_t B, index_t I, index_t H,
                  LstmVariant variant) {
  const KernelScope scope;
  const index_t BH = B * H, GH = 4 * H;
  const detail::StepWeights<Real> weights(w_ih, w_hh, b_ih, b_hh, 4, I, H);
  const auto step = weights.path().lstm_step[int(variant)];
  const detail::PackedStep<Real> packed = weights.packed();
  // A missing c0 reads as rows of zeros, so the cell has no branch.
  const std::vector<Real> zeros(c0 == nullptr ? BH : 0);
  const Real* const c_init = c0 != nullptr ? c0 : zeros.data();
  detail::StepStates<Real> h(y, BH), c(cells, BH);
  const double work = double(T) * double(B) * double(GH) * double(1 + I + H + kCellCost);
  // gates_t = b_ih + b_hh + x_t W_ih^T + h_{t-1} W_hh^T, then the cell, per tile.
  detail::forward_steps(
      weights.projected(I), T, B, I, GH, x, w_ih, gates, weights.tiles(), work, weights.bytes(),
      [&](index_t t, index_t b0, index_t b1, detail::StepTiles tiles, const Real* pre) {
        const index_t e = b0 * H;
        const Real* const h_prev = t > 0 ? h.at(t - 1) + e : h0 != nullptr ? h0 + e : nullptr;
        const Real* const c_prev = t > 0 ? c.at(t - 1) + e : c_init + e;
        step(packed, tiles, b1 - b0, x + (t * B + b0) * I, pre, h_prev, c_prev, h.at(t) + e,
             c.at(t) + e, gates != nullptr ? gates + (t * B + b0) * GH : nullptr);
      });
  std::copy(h.at(T - 1), h.at(T - 1) + BH, h_n);
  std::copy(c.at(T - 1), c.at(T - 1) + BH, c_n);
}

template <class Real>
void lstm_backward(Real* dx, Real* dh0, Real* dc0, Real* dw_ih, Real* dw_hh, Real* db_ih,
                   Real* db_hh, const Real* y, const Real* gates, const Real* cells, const Real* x,
                   const Real* h0, const Real* c0, const Real* w_ih, const Real* w_hh,
                   const Real* dy, const Real* dh_n, const Real* dc_n, index_t T, index_t B,
                   index_t I, index_t H, LstmVariant variant) {
  const KernelScope scope;
  const index_t BH = B * H, GH = 4 * H;
  // dg (B, 4H) a step: dL/d(pre-activation) of every gate, kept a chunk of
  // steps at a time for the weight and input gradients; every value is
  // written before it is read.
  detail::BackwardRows<Real> dg(T, B, GH);
  // dc (B, H) carries dL/dc_t back through time; it ends as dL/dc0.
  Real* const dc = dc0;
  detail::copy_or_zero(dc, dc_n, BH);
  const detail::StepWeights<Real> weights(w_hh, GH, H, GH);
  const auto cell = weights.path().lstm_cell_backward[int(variant)];
  const auto step = weights.path().lstm_step_backward[int(variant)];
  const detail::PackedStep<Real> packed = weights.packed();
  // A missing c0, dy or dh_n reads as rows of zeros, so the cells have no branch.
  const std::vector<Real> zeros(c0 == nullptr || dy == nullptr || dh_n == nullptr ? BH : 0);
  const auto c_at = [&](index_t t) {
    return t >= 0 ? cells + t * BH : c0 != nullptr ? c0 : zeros.data();
  };
  const auto dy_at = [&](index_t t) { return dy != nullptr ? dy + t * BH : zeros.data(); };
  // dg_{T-1} from dL/dh_{T-1} = dh_n + dy_{T-1}; each row is its own.
  const Real* const dh_last = dh_n != nullptr ? dh_n : zeros.data();
  parallel_for(B, kCellCost * double(BH), [&](index_t b) {
    const index_t e = b * H, g = b * GH;
    cell(dg.at(T - 1) + g, dc + e, gates + (T - 1) * B * GH + g, c_at(T - 1) + e, c_at(T - 2) + e,
         dh_last + e, dy_at(T - 1) + e, H);
  });
  // Back through the steps t = T - 1 .. 0: dL/dh_{t-1} = dg_t W_hh, tile by
  // tile, each tile going on with the cell's backward at t - 1 for its units
  // (at t = 0 it is dL/dh0 and ends there); after every chunk of steps, dx,
  // dW_ih, the bias and dW_hh take its rows of dg.
  const double work = double(T) * double(B) * double(GH) * double(H + kCellCost);
  detail::backward_steps(
      dg, T, B, weights.tiles(), work, weights.bytes(),
      [&](index_t t, index_t b0, index_t b1, detail::StepTiles tiles) {
        const index_t e = b0 * H, g = b0 * GH;
        const bool first = t == 0;
        step(packed, tiles, b1 - b0, dg.at(t) + g, first ? nullptr : dg.at(t - 1) + g, dc + e,
             dh0 + e, first ? nullptr : gates + (t - 1) * B * GH + g,
             first ? nullptr : c_at(t - 1) + e, first ? nullptr : c_at(t - 2) + e,
             first ? nullptr : dy_at(t - 1) + e);
      },
      [&](detail::StepRange range) {
        const Real* const rows = dg.at(range.t0);
        detail::input_gradients(dx, dw_ih, db_ih, rows, GH, x, w_ih, B, I, GH, range);
        detail::recurrent_weight_gradient(dw_hh, rows, GH, y, h0, B, H, GH, range);
      });
  std::copy(db_ih, db_ih + GH, db_hh);
}

#define RNNKIT_INSTANTIATE(Real)                                                                  \
  template void lstm_forward<Real>(Real*, Real*, Real*, Real*, Real*, const Real*, const Real*,   \
                                   const Real*, const Real*, const Real*, const Real*,            \
                                   const Real*, index_t, index_t, index_t, index_t, LstmVariant); \
  template void lstm_backward<Real>(                                                              \
      Real*, Real*, Real*, Real*, Real*, Real*, Real*, const Real*, const Real*, const Real*,     \
      const Real*, const Real*, const Real*, const Real*, const Real*, const Real*, const Real*,  \
      const Real*, index_t, index_t, index_t, index_t, LstmVariant);
RNNKIT_INSTANTIATE(float)
RNNKIT_INSTANTIATE(double)
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
