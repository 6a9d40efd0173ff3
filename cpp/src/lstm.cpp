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
  const detail::StepWeights<Real> weights(w_ih, w_hh, b_ih, b_hh, I, H, GH);
  const auto cell = detail::path_of(weights.packed()).lstm_cell_forward[int(variant)];
  // A missing c0 reads as rows of zeros, so the cell loop has no branch and vectorises.
  const std::vector<Real> zeros(c0 == nullptr ? BH : 0);
  const Real* const c_init = c0 != nullptr ? c0 : zeros.data();
  const double work = double(T) * double(B) * double(GH) * double(1 + I + H + kCellCost);
  // Rows [b0, b1) of the batch through every step.
  detail::over_batch_rows(B, work, weights.bytes(), [&](index_t b0, index_t b1) {
    const index_t rows = b1 - b0;
    std::vector<Real> xh = weights.scratch(rows);
    for (index_t t = 0; t < T; ++t) {
      Real* const gates_t = gates + (t * B + b0) * GH;
      Real* const c_t = cells + t * BH + b0 * H;
      Real* const h_t = y + t * BH + b0 * H;
      const Real* const h_prev = t > 0 ? h_t - BH : h0 != nullptr ? h0 + b0 * H : nullptr;
      const Real* const c_prev = t > 0 ? c_t - BH : c_init + b0 * H;
      // gates_t = b_ih + b_hh + x_t W_ih^T + h_{t-1} W_hh^T   (rows, 4H)
      weights.project(gates_t, GH, x + (t * B + b0) * I, h_prev, rows, xh.data());
      // The gates' activations in place, then c_t and h_t. Each row is its
      // own. Meanwhile the row's block of the next step comes into cache,
      // ready for the product to write.
      const bool last = t == T - 1;
      parallel_for(rows, kCellCost * double(rows * H), [=](index_t b) {
        if (!last) detail::prefetch_for_writing(gates_t + (B + b) * GH, GH);
        cell(gates_t + b * GH, c_t + b * H, h_t + b * H, c_prev + b * H, H);
      });
    }
  });
  std::copy(y + (T - 1) * BH, y + T * BH, h_n);
  std::copy(cells + (T - 1) * BH, cells + T * BH, c_n);
}

template <class Real>
void lstm_backward(Real* dx, Real* dh0, Real* dc0, Real* dw_ih, Real* dw_hh, Real* db_ih,
                   Real* db_hh, const Real* y, const Real* gates, const Real* cells, const Real* x,
                   const Real* h0, const Real* c0, const Real* w_ih, const Real* w_hh,
                   const Real* dy, const Real* dh_n, const Real* dc_n, index_t T, index_t B,
                   index_t I, index_t H, LstmVariant variant) {
  const KernelScope scope;
  const index_t BH = B * H, GH = 4 * H;
  // dg (T*B, 4H): dL/d(pre-activation) of every gate and step, for dx and the
  // weight gradients after the loop; every value is written before it is read.
  const detail::Workspace<Real> dg(T * B * GH);
  // dh and dc (B, H) carry dL/dh_t and dL/dc_t back through time; they end
  // as dL/dh0 and dL/dc0.
  Real* const dh = dh0;
  Real* const dc = dc0;
  detail::copy_or_zero(dh, dh_n, BH);
  detail::copy_or_zero(dc, dc_n, BH);
  const PackedMatrix<Real> w_hh_packed(w_hh, H, Op::N, GH, H);
  const auto cell = detail::path_of(w_hh_packed).lstm_cell_backward[int(variant)];
  // A missing c0 or dy reads as rows of zeros, so the loop has no branch and vectorises.
  const std::vector<Real> zeros(c0 == nullptr || dy == nullptr ? BH : 0);
  const Real* const c_init = c0 != nullptr ? c0 : zeros.data();
  const double work = double(T) * double(B) * double(GH) * double(H + kCellCost);
  const std::size_t weight_bytes = sizeof(Real) * std::size_t(GH) * std::size_t(H);
  // Rows [b0, b1) of the batch back through every step.
  detail::over_batch_rows(B, work, weight_bytes, [&](index_t b0, index_t b1) {
    const index_t rows = b1 - b0;
    for (index_t t = T - 1; t >= 0; --t) {
      const Real* const gates_t = gates + (t * B + b0) * GH;
      const Real* const c_t = cells + t * BH + b0 * H;
      const Real* const c_prev = t > 0 ? c_t - BH : c_init + b0 * H;
      const Real* const dy_t = (dy != nullptr ? dy + t * BH : zeros.data()) + b0 * H;
      Real* const dg_t = dg.data() + (t * B + b0) * GH;
      Real* const dh_rows = dh + b0 * H;
      Real* const dc_rows = dc + b0 * H;
      // dg_t from dh = dL/dh_t and dc = dL/dc_t; each row is its own.
      parallel_for(rows, kCellCost * double(rows * H), [=](index_t b) {
        const index_t e = b * H;
        cell(dg_t + b * GH, dc_rows + e, gates_t + b * GH, c_t + e, c_prev + e, dh_rows + e,
             dy_t + e, H);
      });
      // dh_{t-1} = dg_t W_hh  (rows, 4H) x (4H, H)
      gemm(dh_rows, H, dg_t, GH, Op::N, w_hh_packed, rows, Update::overwrite);
    }
  });
  detail::input_gradients(dx, dw_ih, db_ih, dg.data(), GH, x, w_ih, T * B, I, GH);
  std::copy(db_ih, db_ih + GH, db_hh);
  detail::recurrent_weight_gradient(dw_hh, dg.data(), GH, y, h0, T, B, H, GH);
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
