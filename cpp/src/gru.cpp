// GRU, forward and backward through time. Size letters in types.hpp; gate
// columns of a weight's (3H) rows are [r | z | n], H each, and a saved row of
// gates (4H) is [r | z | n | hn].
//
// Unlike the LSTM's, the GRU's candidate n takes the recurrent product apart
// from the input's (r gates W_hn h + b_hn only), so the two products cannot
// be one: the input projection of every step is one product before the loop,
// and each step's product is the recurrent one alone, its bias inside.
#include "rnnkit/gru.hpp"

#include <algorithm>
#include <vector>

#include "rnnkit/gemm.hpp"
#include "rnnkit/parallel.hpp"
#include "sequence.hpp"
#include "simd_dispatch.hpp"

namespace rnnkit {

namespace {

// One unit's cell update, forward or backward: three transcendentals against
// the LSTM's five, about 48 multiply-adds of the product's time (lstm.cpp).
constexpr double kCellCost = 48;

}  // namespace

template <class Real>
void gru_forward(Real* y, Real* h_n, Real* gates, const Real* x, const Real* h0, const Real* w_ih,
                 const Real* w_hh, const Real* b_ih, const Real* b_hh, index_t T, index_t B,
                 index_t I, index_t H) {
  const KernelScope scope;
  const index_t BH = B * H, GH = 3 * H, SH = 4 * H;
  // Each step's product: b_hh + h_{t-1} W_hh^T (no input rows); its input
  // projection gi_t = x_t W_ih^T runs before the steps (forward_steps), and
  // b_ih joins in the cell.
  const detail::StepWeights<Real> weights(nullptr, w_hh, nullptr, b_hh, 3, 0, H);
  const auto step = weights.path().gru_step;
  const detail::PackedStep<Real> packed = weights.packed();
  // A missing h0 reads as rows of zeros, which the cell reads.
  const std::vector<Real> zeros(h0 == nullptr ? BH : 0);
  const Real* const h_init = h0 != nullptr ? h0 : zeros.data();
  detail::StepStates<Real> h(y, BH);
  const double work = double(T) * double(B) * double(GH) * double(1 + H + kCellCost);
  // gates_t[:, :3H] = b_hh + h_{t-1} W_hh^T, then the cell, tile by tile.
  detail::forward_steps(
      true, T, B, I, GH, x, w_ih, static_cast<Real*>(nullptr), weights.tiles(), work,
      weights.bytes(),
      [&](index_t t, index_t b0, index_t b1, detail::StepTiles tiles, const Real* gi) {
        const index_t e = b0 * H;
        const Real* const h_prev = t > 0 ? h.at(t - 1) + e : h_init + e;
        step(packed, tiles, b1 - b0, h_prev, gi, b_ih, h.at(t) + e,
             gates != nullptr ? gates + (t * B + b0) * SH : nullptr);
      });
  std::copy(h.at(T - 1), h.at(T - 1) + BH, h_n);
}

template <class Real>
void gru_backward(Real* dx, Real* dh0, Real* dw_ih, Real* dw_hh, Real* db_ih, Real* db_hh,
                  const Real* y, const Real* gates, const Real* x, const Real* h0, const Real* w_ih,
                  const Real* w_hh, const Real* dy, const Real* dh_n, index_t T, index_t B,
                  index_t I, index_t H) {
  const KernelScope scope;
  const index_t BH = B * H, GH = 3 * H, SH = 4 * H;
  // dg (B, 4H) a step: per row [dhn | da_r | da_z | da_n] (gru_cell_backward),
  // kept a chunk of steps at a time for the weight and input gradients; every
  // value is written before it is read. Columns H..4H are the input
  // projection's gradient [da_r | da_z | da_n]; columns 0..3H, [dhn | da_r |
  // da_z], the recurrent product's with W_hh's rows taken as n, r, z: 4H a
  // row, as the LSTM's, not the 6H of two separate gradients (whose r and z
  // blocks are the same).
  detail::BackwardRows<Real> dg(T, B, SH);
  // dh (B, H) carries dL/dh_t z_t back through time, the part of dL/dh_{t-1}
  // that does not pass through W_hh; it ends as dL/dh0.
  Real* const dh = dh0;
  detail::copy_or_zero(dh, dh_n, BH);
  // W_hh's rows as n, r, z, to meet [dhn | da_r | da_z]
  std::vector<Real> w_nrz(static_cast<std::size_t>(GH * H));
  std::copy(w_hh + 2 * H * H, w_hh + GH * H, w_nrz.begin());
  std::copy(w_hh, w_hh + 2 * H * H, w_nrz.begin() + H * H);
  const detail::StepWeights<Real> weights(w_nrz.data(), GH, H, SH);
  const auto cell = weights.path().gru_cell_backward;
  const auto step = weights.path().gru_step_backward;
  const detail::PackedStep<Real> packed = weights.packed();
  // A missing h0 or dy reads as rows of zeros, so the cells have no branch.
  const std::vector<Real> zeros(h0 == nullptr || dy == nullptr ? BH : 0);
  const auto h_at = [&](index_t t) {
    return t >= 0 ? y + t * BH : h0 != nullptr ? h0 : zeros.data();
  };
  const auto dy_at = [&](index_t t) { return dy != nullptr ? dy + t * BH : zeros.data(); };
  // dg_{T-1} and dh = dL/dh_{T-1} z_{T-1}, from dh_n + dy_{T-1}; each row is its own.
  parallel_for(B, kCellCost * double(BH), [&](index_t b) {
    const index_t e = b * H, g = b * SH;
    cell(dg.at(T - 1) + g, dh + e, gates + (T - 1) * B * SH + g, h_at(T - 2) + e, dy_at(T - 1) + e,
         H);
  });
  // Back through the steps t = T - 1 .. 0: dL/dh_{t-1} = dh + [dhn | da_r |
  // da_z]_t W_hh(n, r, z) + dy_{t-1}, tile by tile, each tile going on with
  // the cell's backward at t - 1 for its units (at t = 0 it is dL/dh0); after
  // every chunk of steps, the gradients take its rows of dg:
  //   dx = [da_r | da_z | da_n] W_ih, and dW_ih and db_ih from them;
  //   db_hh is db_ih in the rows of r and z; in n's it sums dhn = da_n r;
  //   dW_hh, r and z rows from [da_r | da_z], n's rows from dhn.
  // (db_hh's r and z rows are copied from db_ih at the end.)
  const double work = double(T) * double(B) * double(GH) * double(H + kCellCost);
  detail::backward_steps(
      dg, T, B, weights.tiles(), work, weights.bytes(),
      [&](index_t t, index_t b0, index_t b1, detail::StepTiles tiles) {
        const index_t e = b0 * H, g = b0 * SH;
        const bool first = t == 0;
        step(packed, tiles, b1 - b0, dg.at(t) + g, first ? nullptr : dg.at(t - 1) + g, dh + e,
             first ? nullptr : gates + (t - 1) * B * SH + g, first ? nullptr : h_at(t - 2) + e,
             first ? nullptr : dy_at(t - 1) + e);
      },
      [&](detail::StepRange range) {
        const Real* const rows = dg.at(range.t0);
        detail::input_gradients(dx, dw_ih, db_ih, rows + H, SH, x, w_ih, B, I, GH, range);
        detail::column_sums(db_hh + 2 * H, rows, SH, (range.t1 - range.t0) * B, H, range.update());
        detail::recurrent_weight_gradient(dw_hh, rows + H, SH, y, h0, B, H, 2 * H, range);
        detail::recurrent_weight_gradient(dw_hh + 2 * H * H, rows, SH, y, h0, B, H, H, range);
      });
  std::copy(db_ih, db_ih + 2 * H, db_hh);
}

#define RNNKIT_INSTANTIATE(Real)                                                              \
  template void gru_forward<Real>(Real*, Real*, Real*, const Real*, const Real*, const Real*, \
                                  const Real*, const Real*, const Real*, index_t, index_t,    \
                                  index_t, index_t);                                          \
  template void gru_backward<Real>(Real*, Real*, Real*, Real*, Real*, Real*, const Real*,     \
                                   const Real*, const Real*, const Real*, const Real*,        \
                                   const Real*, const Real*, const Real*, index_t, index_t,   \
                                   index_t, index_t);
RNNKIT_INSTANTIATE(float)
RNNKIT_INSTANTIATE(double)
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
