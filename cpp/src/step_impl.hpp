// A layer's time step fused into one pass: the recurrent product of a tile of
// units, and in its epilogue the cell update of those units (forward), or the
// cell's backward one step earlier (backward), while the tile's sums are still
// in L1. Compiled once per instruction set through simd_path.hpp, like the
// blocked product (gemm_impl.hpp, included before this file, defines
// VectorOf, transpose_panel and kPackCost, which this file uses); internal
// linkage throughout, for the reason gemm_impl.hpp gives.
//
// The weights are packed once per call into tiles (pack_step): a tile is NV
// vectors wide and holds, one packed row after another, the bias, the I rows
// of W_ih^T and the K recurrent rows of its columns (StepShape in
// simd_dispatch.hpp). For the forward of the LSTM and the GRU the NV = G
// vectors of a tile are the G gates of the same `lanes` units, interleaved as
// in oneDNN's RNN primitive, so that a tile's product is everything the cell
// update of its units needs: i, f, g and o of the same units side by side.
// The RNN's one gate, and every backward (whose product gives one dL/dh per
// unit), take NV vectors of consecutive units instead.
//
// A tile's product needs no packing of its left side: each of its R rows is
// read in place, [x_t | h_{t-1}] (or dg_t) as two runs, and broadcast element
// by element against the tile's rows, R x NV sums held in registers over the
// whole depth (no slices through memory, no call per step into a general
// product). The epilogue then runs the cell unit by unit on the sums, with
// the per-unit functions of cells_impl.hpp that the cells' row functions use
// too, so each cell's equations stay written once.
#pragma once

#include <algorithm>

#include "cells_impl.hpp"
#include "simd_dispatch.hpp"

namespace rnnkit::detail {

namespace {

template <class Real>
constexpr index_t kStepLanes = RNNKIT_VECTOR_BYTES / static_cast<index_t>(sizeof(Real));

// Accumulators a tile's product holds in registers: 32 vector registers with
// AVX-512 leave room for 24 sums, the broadcast and a tile row's vectors; 16
// (AVX2, SSE2, NEON) for 12. Rows of a tile: as many as the budget allows.
constexpr index_t kStepAccumulators = RNNKIT_VECTOR_BYTES == 64 ? 24 : 12;
template <index_t NV>
constexpr index_t kStepRows = kStepAccumulators / NV;
// Independent sums the FMA units need in flight: latency 4 cycles x 2 units.
constexpr index_t kStepChains = 8;

// Every tile of a layer's step weights, from w_ih (G*H, I) (null when I is
// 0), the recurrent rows w_k (PackStepFn) and bias (G*H, null for zeros),
// into dst (StepShape's size); the columns of units past H are zero. Each
// vector is packed from its run of the weights' rows (step_run), a compact
// last tile column by column (compact_row).
template <class Real>
void pack_step(Real* dst, const Real* w_ih, const Real* w_k, index_t rs, index_t ps,
               const Real* bias, index_t G, index_t I, index_t K, index_t H) {
  const StepShape shape = step_shape(kStepLanes<Real>, G, I, K, H);
  constexpr index_t lanes = kStepLanes<Real>;
  const index_t width = shape.vectors * lanes;
  const double work = kPackCost * double(shape.tile_size) * double(shape.tiles);
  parallel_for(
      shape.tiles, work,
      [=](index_t j) {
        if (shape.compact() && j == shape.tiles - 1) {
          Real* const tile = dst + j * shape.tile_size;
          const index_t compact_width = shape.last_vectors * lanes;
          for (index_t c = 0; c < compact_width; ++c) {
            const index_t r = compact_row(shape, H, c);
            Real* const col = tile + c;
            col[0] = r >= 0 && bias != nullptr ? bias[r] : 0;
            for (index_t p = 0; p < I; ++p)
              col[(1 + p) * compact_width] = r >= 0 ? w_ih[r * I + p] : 0;
            for (index_t p = 0; p < K; ++p)
              col[(1 + I + p) * compact_width] = r >= 0 ? w_k[r * rs + p * ps] : 0;
          }
          return;
        }
        for (index_t v = 0; v < shape.vectors; ++v) {
          Real* const col = dst + j * shape.tile_size + v * lanes;  // the vector's first column
          const auto [first, rows] = step_run(shape, lanes, H, j, v);
          for (index_t l = 0; l < lanes; ++l)
            col[l] = l < rows && bias != nullptr ? bias[first + l] : 0;
          if (I > 0) transpose_panel<lanes>(col + width, width, w_ih + first * I, I, rows, I);
          Real* const rec = col + (1 + I) * width;
          if (ps == 1)  // a column's run of K is a row of w_k
            transpose_panel<lanes>(rec, width, w_k + first * rs, rs, rows, K);
          else  // rs = 1: a row of K's run of columns, read along it
            for (index_t p = 0; p < K; ++p)
              for (index_t l = 0; l < lanes; ++l)
                rec[p * width + l] = l < rows ? w_k[(first + l) * rs + p * ps] : 0;
        }
      },
      Site::pack);
}

// tile (R, NV vectors) = init + x (R, I) W_x + h (R, K) W_h for one packed
// tile w; rows of init (R, NV vectors) ld_init apart (0: one row for all,
// the tile's bias), of x ld_x apart, of h ld_h apart, h null for zeros. J
// tiles at once: tile jj's weights at w + jj * w_step, its init at init +
// jj * init_step, its sums at tile + jj * R * NV vectors; each sum runs over
// the depth in the same order for any J and R.
template <index_t NV, index_t R, index_t J, class Real>
void tile_product(Real* tile, const Real* init, index_t ld_init, index_t init_step,
                  const Real* __restrict w, index_t w_step, const Real* x, index_t ld_x, index_t I,
                  const Real* h, index_t ld_h, index_t K) {
  constexpr index_t lanes = kStepLanes<Real>, width = NV * lanes;
#if defined(__GNUC__)
  using V = typename VectorOf<Real>::type;
  V acc[J][R][NV];
#pragma GCC unroll 16
  for (index_t jj = 0; jj < J; ++jj)
#pragma GCC unroll 16
    for (index_t r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (index_t v = 0; v < NV; ++v)  // memcpy: a vector load without breaking aliasing rules
        __builtin_memcpy(&acc[jj][r][v], init + jj * init_step + r * ld_init + v * lanes,
                         sizeof acc[jj][r][v]);
  // One run of the depth: rows of a (ld apart) against the packed rows from wp on.
  const auto run = [&](const Real* a, index_t ld, const Real* __restrict wp, index_t depth) {
    for (index_t p = 0; p < depth; ++p) {
#pragma GCC unroll 16
      for (index_t jj = 0; jj < J; ++jj) {
        V wv[NV];
#pragma GCC unroll 16
        for (index_t v = 0; v < NV; ++v)
          __builtin_memcpy(&wv[v], wp + jj * w_step + p * width + v * lanes, sizeof wv[v]);
#pragma GCC unroll 16
        for (index_t r = 0; r < R; ++r) {
          const Real ar = a[r * ld + p];
#pragma GCC unroll 16
          for (index_t v = 0; v < NV; ++v) acc[jj][r][v] += ar * wv[v];
        }
      }
    }
  };
  run(x, ld_x, w + width, I);
  if (h != nullptr) run(h, ld_h, w + (1 + I) * width, K);
#pragma GCC unroll 16
  for (index_t jj = 0; jj < J; ++jj)
#pragma GCC unroll 16
    for (index_t r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (index_t v = 0; v < NV; ++v)
        __builtin_memcpy(tile + (jj * R + r) * width + v * lanes, &acc[jj][r][v],
                         sizeof acc[jj][r][v]);
#else
  for (index_t jj = 0; jj < J; ++jj) {
    const Real* const wj = w + jj * w_step;
    for (index_t r = 0; r < R; ++r)
      for (index_t c = 0; c < width; ++c) {
        Real sum = init[jj * init_step + r * ld_init + c];
        for (index_t p = 0; p < I; ++p) sum += x[r * ld_x + p] * wj[(1 + p) * width + c];
        if (h != nullptr)
          for (index_t p = 0; p < K; ++p) sum += h[r * ld_h + p] * wj[(1 + I + p) * width + c];
        tile[(jj * R + r) * width + c] = sum;
      }
  }
#endif
}

// tile_product for the rows (1 <= rows <= R) given at run time.
template <index_t NV, index_t R, index_t J, class Real>
void tile_rows(index_t rows, Real* tile, const Real* init, index_t ld_init, index_t init_step,
               const Real* w, index_t w_step, const Real* x, index_t ld_x, index_t I, const Real* h,
               index_t ld_h, index_t K) {
  if constexpr (R > 1)
    if (rows < R)
      return tile_rows<NV, R - 1, J>(rows, tile, init, ld_init, init_step, w, w_step, x, ld_x, I, h,
                                     ld_h, K);
  tile_product<NV, R, J>(tile, init, ld_init, init_step, w, w_step, x, ld_x, I, h, ld_h, K);
}

// tile_rows<NV, R, 1> for the NV (1 <= nv <= Max) given at run time.
template <index_t Max, index_t R, class Real>
void compact_rows(index_t nv, index_t rows, Real* tile, const Real* init, index_t ld_init,
                  const Real* w, const Real* x, index_t ld_x, index_t I, const Real* h,
                  index_t ld_h, index_t K) {
  if constexpr (Max > 1)
    if (nv < Max)
      return compact_rows<Max - 1, R>(nv, rows, tile, init, ld_init, w, x, ld_x, I, h, ld_h, K);
  tile_rows<Max, R, 1>(rows, tile, init, ld_init, 0, w, 0, x, ld_x, I, h, ld_h, K);
}

// step_tiles' compact last tile (StepShape): its product in last_vectors
// vectors, its sums then laid out as a whole tile's, G vectors of `lanes`
// units, for the same epilogue.
template <index_t NV, class Real, class Epilogue>
void step_compact_tile(const PackedStep<Real>& w, index_t rows, const Real* x, const Real* h,
                       const Real* pre, index_t ld_pre, const Epilogue& epilogue) {
  constexpr index_t R = kStepRows<NV>, lanes = kStepLanes<Real>, width = NV * lanes;
  const StepShape& s = w.shape;
  const index_t u0 = (s.tiles - 1) * s.units, rest = s.rest;
  const index_t nv = s.last_vectors, compact_width = nv * lanes;
  const Real* const packed = w.data + (s.tiles - 1) * s.tile_size;
  alignas(64) Real sums[R * width] = {};  // a block's sums, rows compact_width apart
  alignas(64) Real init[R * width];       // laid out as sums
  alignas(64) Real tile[R * width];       // the sums as a whole tile's
  index_t pre_row[width];                 // the column of pre each column reads, or -1
  if (pre != nullptr)
    for (index_t c = 0; c < compact_width; ++c) pre_row[c] = compact_row(s, w.H, c);
  for (index_t r0 = 0; r0 < rows; r0 += R) {
    const index_t mr = std::min(R, rows - r0);
    if (pre != nullptr)  // the tile's columns of pre, and their bias; zeros after the gates
      for (index_t r = 0; r < mr; ++r)
        for (index_t c = 0; c < compact_width; ++c)
          init[r * compact_width + c] =
              pre_row[c] >= 0 ? pre[(r0 + r) * ld_pre + pre_row[c]] + packed[c] : 0;
    compact_rows<NV - 1, R>(nv, mr, sums, pre != nullptr ? init : packed,
                            pre != nullptr ? compact_width : 0, packed, x + r0 * w.I, w.I, w.I,
                            h != nullptr ? h + r0 * w.ld : nullptr, w.ld, w.K);
    // a whole vector a gate, past its rest units (lanes the epilogue never reads, zeros
    // or other sums, within the buffer): a copy of known length where a copy of `rest`
    // values called memcpy, G times a row (the course model's forward: 3-4% faster)
    for (index_t r = 0; r < mr; ++r)
      for (index_t g = 0; g < NV; ++g)
        std::copy_n(sums + r * compact_width + g * rest, lanes, tile + r * width + g * lanes);
    epilogue(tile, r0, mr, u0, rest);
  }
}

// One step over rows [0, rows) and the tiles of `range`, in its order: every
// tile's product (rows of x I apart, of h ld apart), from the tile's bias, or
// with `pre` (rows ld_pre apart, the layer's G*H columns in their own order)
// when the input projection ran before the loop; then epilogue(tile, r0, mr,
// u0, n) for its rows [r0, r0 + mr) and units [u0, u0 + n), the tile holding
// mr rows of NV vectors. Tiles outside, rows inside: a tile's weights (tens to
// hundreds of KB) stay in L2 while every block of rows passes over them; the
// rows' inputs, read again for every tile, are a few KB. A step of so few
// rows that a tile's sums are fewer than kStepChains runs two tiles at a
// time: one tile's chains of multiply-adds would leave the FMA units waiting
// on their latency.
template <index_t NV, class Real, class Epilogue>
void step_tiles(const PackedStep<Real>& w, StepTiles range, index_t rows, const Real* x,
                const Real* h, const Real* pre, index_t ld_pre, const Epilogue& epilogue) {
  constexpr index_t R = kStepRows<NV>, lanes = kStepLanes<Real>, width = NV * lanes, J = 2;
  constexpr index_t paired_rows = (kStepChains - 1) / NV;  // at most: rows * NV < kStepChains
  static_assert(paired_rows >= 1 && J * paired_rows <= R, "paired tiles must fit the buffers");
  alignas(64) Real tile[R * width];  // a block's sums, tile jj's mr rows after jj * mr rows
  alignas(64) Real init[R * width];  // laid out as tile
  const StepShape& s = w.shape;
  const bool paired = rows <= paired_rows;
  // the compact last tile, when among the range's, runs on its own: last, or first going down
  const bool compact = s.compact() && range.j0 < range.j1 && range.j1 == s.tiles;
  const index_t j1 = compact ? range.j1 - 1 : range.j1;
  if (compact && range.down) step_compact_tile<NV>(w, rows, x, h, pre, ld_pre, epilogue);
  const index_t per_turn = paired ? J : 1, turns = (j1 - range.j0 + per_turn - 1) / per_turn;
  for (index_t turn = 0; turn < turns; ++turn) {
    const index_t j = range.j0 + (range.down ? turns - 1 - turn : turn) * per_turn;
    const index_t tiles = std::min(per_turn, j1 - j);
    const Real* const packed = w.data + j * s.tile_size;
    for (index_t r0 = 0; r0 < rows; r0 += R) {
      const index_t mr = std::min(R, rows - r0);
      if (pre != nullptr)  // the tiles' columns of pre, and their bias; zeros past H
        for (index_t jj = 0; jj < tiles; ++jj)
          for (index_t v = 0; v < NV; ++v) {
            const auto [first, n_rows] = step_run(s, lanes, w.H, j + jj, v);
            const Real* const bias = packed + jj * s.tile_size + v * lanes;
            for (index_t r = 0; r < mr; ++r) {
              Real* const out = init + (jj * mr + r) * width + v * lanes;
              const Real* const in = pre + (r0 + r) * ld_pre + first;
              if (n_rows == lanes)  // a whole vector: a loop of known length, which vectorises
                for (index_t l = 0; l < lanes; ++l) out[l] = in[l] + bias[l];
              else
                for (index_t l = 0; l < lanes; ++l) out[l] = l < n_rows ? in[l] + bias[l] : 0;
            }
          }
      const Real* const from = pre != nullptr ? init : packed;
      const index_t ld_from = pre != nullptr ? width : 0;
      const index_t from_step = pre != nullptr ? mr * width : s.tile_size;
      const Real* const hr = h != nullptr ? h + r0 * w.ld : nullptr;
      if (tiles == J)
        tile_rows<NV, paired_rows, J>(mr, tile, from, ld_from, from_step, packed, s.tile_size,
                                      x + r0 * w.I, w.I, w.I, hr, w.ld, w.K);
      else
        tile_rows<NV, R, 1>(mr, tile, from, ld_from, from_step, packed, s.tile_size, x + r0 * w.I,
                            w.I, w.I, hr, w.ld, w.K);
      for (index_t jj = 0; jj < tiles; ++jj) {
        const index_t u0 = (j + jj) * s.units;
        epilogue(tile + jj * mr * width, r0, mr, u0, std::min(s.units, w.H - u0));
      }
    }
  }
  if (compact && !range.down) step_compact_tile<NV>(w, rows, x, h, pre, ld_pre, epilogue);
}

// unit(r, j) for the rows r < mr of a tile and its units j < n: for a whole
// tile, n = W is known when compiling, and the loop over a row's units is a
// few vector instructions with the cell's constants held across rows. The
// cells' restrict-free stores into several arrays do not overlap: ivdep.
template <index_t W, class Unit>
inline void over_tile(index_t mr, index_t n, const Unit& unit) {
  if (n == W) {
    for (index_t r = 0; r < mr; ++r)
#pragma GCC ivdep
      for (index_t j = 0; j < W; ++j) unit(r, j);
  } else {
    for (index_t r = 0; r < mr; ++r)
#pragma GCC ivdep
      for (index_t j = 0; j < n; ++j) unit(r, j);
  }
}

// A unit's four saved values at gates[at], `stride` apart.
template <class Real>
inline void keep_unit(Real* gates, index_t at, index_t stride, Real a, Real b, Real c, Real d) {
  gates[at] = a;
  gates[at + stride] = b;
  gates[at + 2 * stride] = c;
  gates[at + 3 * stride] = d;
}

// Where an epilogue's rows from r0 put the four saved values of their units
// from u0: gates_t's rows (4H apart, the values H apart) when gates are kept,
// else `scratch` that nothing reads (rows 4 lanes apart, values lanes apart).
// Stored either way, so one loop serves both: a test inside it becomes masked
// stores (vmaskmovps), microcoded on AMD's cores (on Zen 3 an eighth of the
// LSTM forward's time at H = 128), and two compiled loops need not round alike
// (one for each case gave inference results 1-3 ulp from the training
// forward's), where the two must agree to the last bit.
template <class Real>
struct KeptGates {
  Real* at;
  index_t row, gate;
};
template <class Real>
inline KeptGates<Real> kept_gates(Real* gates_t, index_t r0, index_t u0, index_t H, Real* scratch) {
  constexpr index_t lanes = kStepLanes<Real>;
  if (gates_t != nullptr) return {gates_t + r0 * 4 * H + u0, 4 * H, H};
  return {scratch, 4 * lanes, lanes};
}

// The LSTM's step for variant V (lstm.cpp): gates_t (rows, 4H) keeps the
// gates when not null.
template <LstmVariant V, class Real>
void lstm_step(const PackedStep<Real>& w, StepTiles tiles, index_t rows, const Real* x_t,
               const Real* pre_t, const Real* h_prev, const Real* c_prev, Real* h_t, Real* c_t,
               Real* gates_t) {
  constexpr index_t lanes = kStepLanes<Real>;
  const index_t H = w.H;
  step_tiles<4>(w, tiles, rows, x_t, h_prev, pre_t, 4 * H,
                [=](const Real* tile, index_t r0, index_t mr, index_t u0, index_t n) {
                  alignas(64) Real scratch[kStepRows<4> * 4 * lanes];
                  const KeptGates<Real> kept = kept_gates(gates_t, r0, u0, H, scratch);
                  over_tile<lanes>(mr, n, [=](index_t r, index_t j) {
                    const Real* const pre = tile + r * 4 * lanes + j;  // i, f, g, o: lanes apart
                    Real i = pre[0], f = pre[lanes], g = pre[2 * lanes], o = pre[3 * lanes];
                    const index_t e = (r0 + r) * H + u0 + j;
                    lstm_unit_forward<V>(i, f, g, o, c_t[e], h_t[e], c_prev[e]);
                    keep_unit(kept.at, r * kept.row + j, kept.gate, i, f, g, o);
                  });
                });
}

// The GRU's step (gru.cpp): the product is the recurrent one, [r | z | n] of
// W_hh h_{t-1} + b_hh; gi_t (rows, 3H) the input projection without b_ih;
// gates_t (rows, 4H) [r | z | n | hn] when not null.
template <class Real>
void gru_step(const PackedStep<Real>& w, StepTiles tiles, index_t rows, const Real* h_prev,
              const Real* gi_t, const Real* b_ih, Real* h_t, Real* gates_t) {
  constexpr index_t lanes = kStepLanes<Real>;
  const index_t H = w.H;
  step_tiles<3>(w, tiles, rows, static_cast<const Real*>(nullptr), h_prev,
                static_cast<const Real*>(nullptr), 0,
                [=](const Real* tile, index_t r0, index_t mr, index_t u0, index_t n) {
                  alignas(64) Real scratch[kStepRows<3> * 4 * lanes];
                  const KeptGates<Real> kept = kept_gates(gates_t, r0, u0, H, scratch);
                  over_tile<lanes>(mr, n, [=](index_t r, index_t j) {
                    const Real* const pre = tile + r * 3 * lanes + j;  // r, z, n: lanes apart
                    Real rg = pre[0], z = pre[lanes], cand = pre[2 * lanes], hn;
                    const index_t e = (r0 + r) * H + u0 + j, u = u0 + j;
                    const Real* const gi = gi_t + (r0 + r) * 3 * H + u;
                    gru_unit_forward(rg, z, cand, hn, h_t[e], gi[0], gi[H], gi[2 * H], b_ih[u],
                                     b_ih[H + u], b_ih[2 * H + u], h_prev[e]);
                    keep_unit(kept.at, r * kept.row + j, kept.gate, rg, z, cand, hn);
                  });
                });
}

// The RNN's step (rnn.cpp): h_t = act(tile), straight into its rows.
template <class Real>
void rnn_step(const PackedStep<Real>& w, StepTiles tiles, index_t rows, const Real* x_t,
              const Real* pre_t, const Real* h_prev, Real* h_t, Nonlinearity act) {
  constexpr index_t width = kRnnStepVectors * kStepLanes<Real>;
  const index_t H = w.H;
  step_tiles<kRnnStepVectors>(w, tiles, rows, x_t, h_prev, pre_t, H,
                              [=](const Real* tile, index_t r0, index_t mr, index_t u0, index_t n) {
                                // one loop per activation, so that each vectorises (activate's
                                // reason)
                                if (act == Nonlinearity::tanh)
                                  over_tile<width>(mr, n, [=](index_t r, index_t j) {
                                    h_t[(r0 + r) * H + u0 + j] = tanh(tile[r * width + j]);
                                  });
                                else
                                  over_tile<width>(mr, n, [=](index_t r, index_t j) {
                                    h_t[(r0 + r) * H + u0 + j] = relu(tile[r * width + j]);
                                  });
                              });
}

// The LSTM backward's step (LstmStepBackwardFn): the tile is dL/dh_{t-1} of
// its units, less dy_{t-1}, and the cell's backward runs on it there.
template <LstmVariant V, class Real>
void lstm_step_backward(const PackedStep<Real>& w, StepTiles tiles, index_t rows, const Real* dg_t,
                        Real* dg_prev, Real* dc, Real* dh0, const Real* gates, const Real* c,
                        const Real* c_prev, const Real* dy) {
  constexpr index_t width = kRnnStepVectors * kStepLanes<Real>;
  const index_t H = w.H;
  step_tiles<kRnnStepVectors>(
      w, tiles, rows, static_cast<const Real*>(nullptr), dg_t, static_cast<const Real*>(nullptr), 0,
      [=](const Real* tile, index_t r0, index_t mr, index_t u0, index_t n) {
        if (dg_prev == nullptr) {
          over_tile<width>(mr, n, [=](index_t r, index_t j) {
            dh0[(r0 + r) * H + u0 + j] = tile[r * width + j];
          });
          return;
        }
        over_tile<width>(mr, n, [=](index_t r, index_t j) {
          const index_t e = (r0 + r) * H + u0 + j, g = (r0 + r) * 4 * H + u0 + j;
          lstm_unit_backward<V>(dg_prev[g], dg_prev[g + H], dg_prev[g + 2 * H], dg_prev[g + 3 * H],
                                dc[e], gates[g], gates[g + H], gates[g + 2 * H], gates[g + 3 * H],
                                c[e], c_prev[e], tile[r * width + j] + dy[e]);
        });
      });
}

// The RNN backward's step (RnnStepBackwardFn).
template <class Real>
void rnn_step_backward(const PackedStep<Real>& w, StepTiles tiles, index_t rows, const Real* dz_t,
                       Real* dz_prev, Real* dh0, const Real* y_prev, const Real* dy,
                       Nonlinearity act) {
  constexpr index_t width = kRnnStepVectors * kStepLanes<Real>;
  const index_t H = w.H;
  step_tiles<kRnnStepVectors>(
      w, tiles, rows, static_cast<const Real*>(nullptr), dz_t, static_cast<const Real*>(nullptr), 0,
      [=](const Real* tile, index_t r0, index_t mr, index_t u0, index_t n) {
        const auto at = [=](index_t r, index_t j) { return (r0 + r) * H + u0 + j; };
        if (dz_prev == nullptr)
          over_tile<width>(mr, n,
                           [=](index_t r, index_t j) { dh0[at(r, j)] = tile[r * width + j]; });
        else if (act == Nonlinearity::tanh)  // one loop per activation (activate's reason)
          over_tile<width>(mr, n, [=](index_t r, index_t j) {
            const index_t e = at(r, j);
            dz_prev[e] = tanh_backward(tile[r * width + j] + dy[e], y_prev[e]);
          });
        else
          over_tile<width>(mr, n, [=](index_t r, index_t j) {
            const index_t e = at(r, j);
            dz_prev[e] = relu_backward(tile[r * width + j] + dy[e], y_prev[e]);
          });
      });
}

// The GRU backward's step (GruStepBackwardFn).
template <class Real>
void gru_step_backward(const PackedStep<Real>& w, StepTiles tiles, index_t rows, const Real* dg_t,
                       Real* dg_prev, Real* dh, const Real* gates, const Real* h_prev,
                       const Real* dy) {
  constexpr index_t width = kRnnStepVectors * kStepLanes<Real>;
  const index_t H = w.H;
  step_tiles<kRnnStepVectors>(
      w, tiles, rows, static_cast<const Real*>(nullptr), dg_t, static_cast<const Real*>(nullptr), 0,
      [=](const Real* tile, index_t r0, index_t mr, index_t u0, index_t n) {
        if (dg_prev == nullptr) {
          over_tile<width>(mr, n, [=](index_t r, index_t j) {
            dh[(r0 + r) * H + u0 + j] += tile[r * width + j];
          });
          return;
        }
        over_tile<width>(mr, n, [=](index_t r, index_t j) {
          const index_t e = (r0 + r) * H + u0 + j, g = (r0 + r) * 4 * H + u0 + j;
          gru_unit_backward(dg_prev[g], dg_prev[g + H], dg_prev[g + 2 * H], dg_prev[g + 3 * H],
                            dh[e], gates[g], gates[g + H], gates[g + 2 * H], gates[g + 3 * H],
                            h_prev[e], dh[e] + tile[r * width + j] + dy[e]);
        });
      });
}

}  // namespace

}  // namespace rnnkit::detail
