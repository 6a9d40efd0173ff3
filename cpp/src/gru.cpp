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
  // gi (T*B, 3H) = x W_ih^T, every step at once; b_ih joins in the cell.
  const detail::Workspace<Real> gi(T * B * GH);
  gemm(gi.data(), GH, x, I, Op::N, w_ih, I, Op::T, T * B, GH, I, Update::overwrite);
  // Each step's product: [1 | h_{t-1}] [b_hh | W_hh]^T (no input columns).
  const std::vector<Real> no_bias(static_cast<std::size_t>(GH), Real(0));
  const detail::StepWeights<Real> weights(w_ih, w_hh, no_bias.data(), b_hh, 0, H, GH);
  const auto cell = detail::path_of(weights.packed()).gru_cell_forward;
  // A missing h0 reads as rows of zeros, so the cell loop has no branch and vectorises.
  const std::vector<Real> zeros(h0 == nullptr ? BH : 0);
  const Real* const h_init = h0 != nullptr ? h0 : zeros.data();
  const double work = double(T) * double(B) * double(GH) * double(1 + H + kCellCost);
  // Rows [b0, b1) of the batch through every step.
  detail::over_batch_rows(B, work, weights.bytes(), [&](index_t b0, index_t b1) {
    const index_t rows = b1 - b0;
    std::vector<Real> xh = weights.scratch(rows);
    for (index_t t = 0; t < T; ++t) {
      Real* const gates_t = gates + (t * B + b0) * SH;
      Real* const h_t = y + t * BH + b0 * H;
      const Real* const h_prev = t > 0 ? h_t - BH : h_init + b0 * H;
      const Real* const gi_t = gi.data() + (t * B + b0) * GH;
      // gates_t[:, :3H] = h_{t-1} W_hh^T + b_hh   (rows, 3H), rows 4H apart
      weights.project(gates_t, SH, x, h_prev, rows, xh.data());
      // The gates in place, then h_t; each row is its own. Meanwhile the
      // row's block of the next step comes into cache for the product.
      const bool last = t == T - 1;
      parallel_for(rows, kCellCost * double(rows * H), [=](index_t b) {
        if (!last) detail::prefetch_for_writing(gates_t + (B + b) * SH, SH);
        cell(gates_t + b * SH, h_t + b * H, gi_t + b * GH, b_ih, h_prev + b * H, H);
      });
    }
  });
  std::copy(y + (T - 1) * BH, y + T * BH, h_n);
}

template <class Real>
void gru_backward(Real* dx, Real* dh0, Real* dw_ih, Real* dw_hh, Real* db_ih, Real* db_hh,
                  const Real* y, const Real* gates, const Real* x, const Real* h0, const Real* w_ih,
                  const Real* w_hh, const Real* dy, const Real* dh_n, index_t T, index_t B,
                  index_t I, index_t H) {
  const KernelScope scope;
  const index_t BH = B * H, GH = 3 * H, SH = 4 * H;
  // dg (T*B, 4H): per step and row [dhn | da_r | da_z | da_n] (gru_cell_backward),
  // for dx and the weight gradients after the loop; every value is written
  // before it is read. Columns H..4H are the input projection's gradient [da_r | da_z |
  // da_n]; columns 0..3H, [dhn | da_r | da_z], the recurrent product's with W_hh's
  // rows taken as n, r, z: 4H a row, as the LSTM's, not the 6H of two separate
  // gradients (whose r and z blocks are the same).
  const detail::Workspace<Real> dg(T * B * SH);
  // dh (B, H) carries dL/dh_t back through time; it ends as dL/dh0.
  Real* const dh = dh0;
  detail::copy_or_zero(dh, dh_n, BH);
  // W_hh's rows as n, r, z, to meet [dhn | da_r | da_z]
  std::vector<Real> w_nrz(static_cast<std::size_t>(GH * H));
  std::copy(w_hh + 2 * H * H, w_hh + GH * H, w_nrz.begin());
  std::copy(w_hh, w_hh + 2 * H * H, w_nrz.begin() + H * H);
  const PackedMatrix<Real> w_hh_packed(w_nrz.data(), H, Op::N, GH, H);
  const auto cell = detail::path_of(w_hh_packed).gru_cell_backward;
  // A missing h0 or dy reads as rows of zeros, so the loop has no branch and vectorises.
  const std::vector<Real> zeros(h0 == nullptr || dy == nullptr ? BH : 0);
  const Real* const h_init = h0 != nullptr ? h0 : zeros.data();
  const double work = double(T) * double(B) * double(GH) * double(H + kCellCost);
  const std::size_t weight_bytes = sizeof(Real) * std::size_t(GH) * std::size_t(H);
  // Rows [b0, b1) of the batch back through every step.
  detail::over_batch_rows(B, work, weight_bytes, [&](index_t b0, index_t b1) {
    const index_t rows = b1 - b0;
    for (index_t t = T - 1; t >= 0; --t) {
      const Real* const gates_t = gates + (t * B + b0) * SH;
      const Real* const h_prev = (t > 0 ? y + (t - 1) * BH : h_init) + b0 * H;
      const Real* const dy_t = (dy != nullptr ? dy + t * BH : zeros.data()) + b0 * H;
      Real* const dg_t = dg.data() + (t * B + b0) * SH;
      Real* const dh_rows = dh + b0 * H;
      // dg_t and dh = dL/dh_t z from dh = dL/dh_t; each row is its own.
      parallel_for(rows, kCellCost * double(rows * H), [=](index_t b) {
        const index_t e = b * H;
        cell(dg_t + b * SH, dh_rows + e, gates_t + b * SH, h_prev + e, dy_t + e, H);
      });
      // dh_{t-1} = dL/dh_t z + [dhn | da_r | da_z] W_hh(n, r, z)  (rows, 3H) x (3H, H)
      gemm(dh_rows, H, dg_t, SH, Op::N, w_hh_packed, rows, Update::accumulate);
    }
  });
  // From the input projection's gradient [da_r | da_z | da_n]
  detail::input_gradients(dx, dw_ih, db_ih, dg.data() + H, SH, x, w_ih, T * B, I, GH);
  // db_hh is db_ih in the rows of r and z; in n's it sums dhn = da_n r instead.
  std::copy(db_ih, db_ih + 2 * H, db_hh);
  detail::column_sums(db_hh + 2 * H, dg.data(), SH, T * B, H);
  // dW_hh, r and z rows from [da_r | da_z], n's rows from dhn
  detail::recurrent_weight_gradient(dw_hh, dg.data() + H, SH, y, h0, T, B, H, 2 * H);
  detail::recurrent_weight_gradient(dw_hh + 2 * H * H, dg.data(), SH, y, h0, T, B, H, H);
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
