// The kernels compiled once per instruction set (simd_portable.cpp,
// simd_avx2.cpp, simd_avx512.cpp): the matrix products (blocked, and of one
// row) and the cells' element-wise steps, gathered in one table per path.
// gemm.cpp picks the table the CPU runs. Private to the kernels.
#pragma once

#include "rnnkit/gemm.hpp"
#include "rnnkit/lstm.hpp"
#include "rnnkit/rnn.hpp"

namespace rnnkit::detail {

// A's packed block (MC x KC) stays in L2, B's packed slice (KC x NC) in L3,
// one B micro-panel (KC x NR) in L1. MC holds whole tiles of every kernel's
// MR (4, 6, 8), NC of every NR. Shared, so one set of packing buffers
// serves every path.
constexpr index_t kMC = 120;
constexpr index_t kKC = 256;
constexpr index_t kNC = 1024;

// C (+)= op(A) op(B), element (i, j) of C at c[i * rs_c + j * cs_c]. op(B)
// comes either as (b, ldb, op_b), packed slice by slice into pack_b, or
// already whole in `packed` (from PackFn; b unused).
template <class Real>
using GemmFn = void (*)(Real* c, index_t rs_c, index_t cs_c, const Real* a, index_t lda, Op op_a,
                        const Real* b, index_t ldb, Op op_b, const Real* packed, index_t m,
                        index_t n, index_t k, Update update, Real* pack_a, Real* pack_b);

// C (m, n) (+)= op(A) op(B) for a C of at most kNarrowColumns columns, A
// read in place; scratch holds n * k (op_a N) or n * m (op_a T) elements.
constexpr index_t kNarrowColumns = 4;
template <class Real>
using GemmNarrowFn = void (*)(Real* c, index_t ldc, const Real* a, index_t lda, Op op_a,
                              const Real* b, index_t ldb, Op op_b, index_t m, index_t n, index_t k,
                              Update update, Real* scratch);

// Packs all of op(B) (k, n) into dst, which holds packed_size(k, n) elements.
template <class Real>
using PackFn = void (*)(Real* dst, const Real* b, index_t ldb, Op op_b, index_t k, index_t n);

// The product of a batch of one (matvec_impl.hpp): y (n) = init (n) + x (k) W
// (k, n), W's rows ld apart, n and ld whole multiples of kMatvecBytes (the
// widest path's vector), init null for zeros or y itself.
constexpr index_t kMatvecBytes = 64;
template <class Real>
using MatvecFn = void (*)(Real* y, const Real* init, const Real* x, const Real* w, index_t k,
                          index_t n, index_t ld);

// The tiles of a layer's fused step (step_impl.hpp) on a path of `lanes`
// elements a vector: NV = `vectors` vectors wide, each the columns of `units`
// hidden units (G gates of `lanes` units, or for G = 1, NV vectors of
// consecutive units), with a bias row, I input rows and K recurrent rows:
// tile_size elements a tile, `tiles` tiles to cover H units. The forward's
// recurrent rows are those of h_{t-1} (K = H), the LSTM backward's those of
// dL/dpre_t (K = 4H, G = 1: its product gives dL/dh_{t-1}, unit by unit).
//
// When H leaves the last interleaved tile a few units, `rest`, it is compact:
// the G gates of its units one after another (compact_row), in last_vectors
// = ceil(G rest / lanes) vectors instead of G. Padded to G vectors, the 2
// units left of the course model's 50 (16 lanes) cost as much as 16, a
// quarter of its products.
constexpr index_t kRnnStepVectors = 4;
struct StepShape {
  index_t vectors, units, tile_size, tiles;
  index_t rest, last_vectors;  // the last tile's units and vectors
  constexpr bool compact() const { return last_vectors < vectors; }
};
constexpr StepShape step_shape(index_t lanes, index_t G, index_t I, index_t K, index_t H) {
  const index_t vectors = G == 1 ? kRnnStepVectors : G;
  const index_t units = G == 1 ? vectors * lanes : lanes;
  const index_t tiles = (H + units - 1) / units;
  const index_t rest = H - (tiles - 1) * units;  // the last tile's units
  const index_t last_vectors = G == 1 ? vectors : (G * rest + lanes - 1) / lanes;
  return {vectors, units, vectors * lanes * (1 + I + K), tiles, rest, last_vectors};
}

// The rows of the layer's G*H (the weights', the pre-activations') that
// vector v of tile j holds: `rows` consecutive ones from `first`, and zeros
// in its columns after them (units past H). Not for a compact tile.
struct StepRun {
  index_t first, rows;
};
constexpr StepRun step_run(const StepShape& shape, index_t lanes, index_t H, index_t j, index_t v) {
  static_assert(kRnnStepVectors > 1, "G = 1 tiles must be told from the interleaved ones");
  const bool interleaved = shape.units == lanes;  // the G gates of `lanes` units
  const index_t unit = j * shape.units + (interleaved ? 0 : v * lanes);  // its first column's
  const index_t rows = H - unit < 0 ? 0 : H - unit < lanes ? H - unit : lanes;
  return {rows > 0 ? (interleaved ? v * H : 0) + unit : 0, rows};
}

// The row of the layer's G*H that column c of the compact last tile holds,
// gate c / rest of unit c % rest of the tile's, or -1 for the zeros after
// the G gates.
constexpr index_t compact_row(const StepShape& shape, index_t H, index_t c) {
  const index_t gate = c / shape.rest, unit = (shape.tiles - 1) * shape.units + c % shape.rest;
  return gate < shape.vectors ? gate * H + unit : -1;
}

// A layer's step weights packed by PackStepFn: what a step function reads.
template <class Real>
struct PackedStep {
  const Real* data;
  index_t I, K, H;
  index_t ld;  // of the rows the K recurrent rows meet: K, or the GRU backward's 4H
  StepShape shape;
};
// The recurrent rows come from w_k, element (weight row r, depth p) at
// w_k[r * rs + p * ps]: W_hh (G*H, H) itself for the forward (rs = H,
// ps = 1), W_hh read down its columns for the backward (rs = 1, ps = H).
template <class Real>
using PackStepFn = void (*)(Real* dst, const Real* w_ih, const Real* w_k, index_t rs, index_t ps,
                            const Real* bias, index_t G, index_t I, index_t K, index_t H);

// The tiles [j0, j1) of a layer's units that a step takes, from j0 up, or
// from j1 - 1 down when `down`. Steps alternate (over_steps), so that a step
// starts with the tiles that the step before took last, still in L2: at a
// batch of one, weights a little larger than L2 (H = 256 in float32: 1 MB a
// layer) came from L3 whole every step. A tile's sums do not depend on the
// order.
struct StepTiles {
  index_t j0, j1;
  bool down;
};

// One time step of a layer over batch rows [0, rows) and `tiles` of
// its units: the product and the cell update (lstm.cpp, gru.cpp, rnn.cpp
// say what each computes). Rows are x_t (I), h (H), c (H), gates (G*H or
// 4H for the GRU) apart; h_prev may be null for zeros (not the GRU's, which
// its cell reads), gates_t null to keep no gates. pre_t (rows, G*H), when not
// null, is x_t W_ih^T, the input projection run before the loop (the weights
// then packed with I = 0): it stands for x_t, and may be gates_t itself.
template <class Real>
using LstmStepFn = void (*)(const PackedStep<Real>& w, StepTiles tiles, index_t rows,
                            const Real* x_t, const Real* pre_t, const Real* h_prev,
                            const Real* c_prev, Real* h_t, Real* c_t, Real* gates_t);
template <class Real>
using GruStepFn = void (*)(const PackedStep<Real>& w, StepTiles tiles, index_t rows,
                           const Real* h_prev, const Real* gi_t, const Real* b_ih, Real* h_t,
                           Real* gates_t);
template <class Real>
using RnnStepFn = void (*)(const PackedStep<Real>& w, StepTiles tiles, index_t rows,
                           const Real* x_t, const Real* pre_t, const Real* h_prev, Real* h_t,
                           Nonlinearity act);

// The LSTM backward's step t (lstm.cpp): dL/dh_{t-1} = dg_t W_hh over rows
// [0, rows) and `tiles` of the units, with dg_t (rows, 4H) = dL/dpre_t,
// and in its epilogue the cell's backward at step t - 1 for those units,
// into dg_prev (rows, 4H) and dc (rows, H) (from dL/dc_{t-1} to dL/dc_{t-2}),
// from that step's gates (rows, 4H), c_{t-1}, c_{t-2} and dy_{t-1} (rows, H).
// At t = 0 (dg_prev null) the product is dL/dh0, written to dh0 (rows, H).
// The RNN's and the GRU's alike: dz_t (rows, H) = dL/dpre_t and dz_prev for
// step t - 1 from its outputs y_prev (rows, H); the GRU's dg_t (rows, 4H) is
// [dhn | da_r | da_z | da_n] (gru.cpp), its product [dhn | da_r | da_z] W_hh
// with W_hh's rows as n, r, z, and dh (rows, H) carries dL/dh_t z_t in and
// dL/dh_{t-1} z_{t-1} out (dL/dh0 at t = 0), its cell reading h_{t-2}.
template <class Real>
using RnnStepBackwardFn = void (*)(const PackedStep<Real>& w, StepTiles tiles, index_t rows,
                                   const Real* dz_t, Real* dz_prev, Real* dh0, const Real* y_prev,
                                   const Real* dy, Nonlinearity act);
template <class Real>
using GruStepBackwardFn = void (*)(const PackedStep<Real>& w, StepTiles tiles, index_t rows,
                                   const Real* dg_t, Real* dg_prev, Real* dh, const Real* gates,
                                   const Real* h_prev, const Real* dy);
template <class Real>
using LstmStepBackwardFn = void (*)(const PackedStep<Real>& w, StepTiles tiles, index_t rows,
                                    const Real* dg_t, Real* dg_prev, Real* dc, Real* dh0,
                                    const Real* gates, const Real* c, const Real* c_prev,
                                    const Real* dy);

// One batch row of the LSTM's step, over its H units (lstm.cpp says what
// each computes); one function per variant, indexed by LstmVariant.
template <class Real>
using LstmCellForwardFn = void (*)(Real* gates_row, Real* c_t, Real* h_t, const Real* c_prev,
                                   index_t H);
template <class Real>
using LstmCellBackwardFn = void (*)(Real* dgates_row, Real* dc, const Real* gates_row,
                                    const Real* c_t, const Real* c_prev, const Real* dh,
                                    const Real* dy_t, index_t H);

// One batch row of the GRU's step (gru.cpp).
template <class Real>
using GruCellForwardFn = void (*)(Real* gates_row, Real* h_t, const Real* gi_row, const Real* b_ih,
                                  const Real* h_prev, index_t H);
template <class Real>
using GruCellBackwardFn = void (*)(Real* dg_row, Real* dh, const Real* gates_row,
                                   const Real* h_prev, const Real* dy_t, index_t H);

// The RNN's activation over n elements, in place, and its backward (rnn.cpp).
template <class Real>
using ActivateFn = void (*)(Real* z, index_t n, Nonlinearity act);
template <class Real>
using ActivationBackwardFn = void (*)(Real* dz, const Real* dh, const Real* dy, const Real* y,
                                      index_t n, Nonlinearity act);

template <class Real>
struct KernelsFor {
  GemmFn<Real> gemm;
  GemmNarrowFn<Real> gemm_narrow;
  PackFn<Real> pack;
  index_t nr;  // columns of a packed micro-panel
  MatvecFn<Real> matvec;
  index_t step_lanes;  // elements of a vector: the StepShape of pack_step's tiles
  PackStepFn<Real> pack_step;
  LstmStepFn<Real> lstm_step[kLstmVariants];
  GruStepFn<Real> gru_step;
  RnnStepFn<Real> rnn_step;
  LstmStepBackwardFn<Real> lstm_step_backward[kLstmVariants];
  GruStepBackwardFn<Real> gru_step_backward;
  RnnStepBackwardFn<Real> rnn_step_backward;
  LstmCellForwardFn<Real> lstm_cell_forward[kLstmVariants];
  LstmCellBackwardFn<Real> lstm_cell_backward[kLstmVariants];
  GruCellForwardFn<Real> gru_cell_forward;
  GruCellBackwardFn<Real> gru_cell_backward;
  ActivateFn<Real> activate;
  ActivationBackwardFn<Real> activation_backward;
};

struct SimdKernels {
  const char* name;
  KernelsFor<float> f32;
  KernelsFor<double> f64;
  template <class Real>
  const KernelsFor<Real>& get() const {
    if constexpr (sizeof(Real) == 4)
      return f32;
    else
      return f64;
  }
};

extern const SimdKernels portable_kernels;
#ifdef RNNKIT_X86_DISPATCH
extern const SimdKernels avx2_kernels;
extern const SimdKernels avx512_kernels;
#endif

// The path chosen now (by the CPU, RNNKIT_SIMD or set_simd_path). A kernel
// reads it once per call, so one call runs on one path throughout.
const SimdKernels& active_kernels();

}  // namespace rnnkit::detail
