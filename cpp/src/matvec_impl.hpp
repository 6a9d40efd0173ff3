// The product of a batch of one, y = init + x W, compiled once per instruction
// set through simd_path.hpp like the blocked product (gemm_impl.hpp, which
// defines VectorOf). Internal linkage throughout, for the reason gemm_impl.hpp
// gives.
//
// For one row the blocked product wastes most of its work: it packs and pads
// the row to a tile of MR rows and walks the blocking of a large C. Here W is
// stored transposed once, (k, n) with n the gate rows G*H, so the product is a
// sweep of axpys over W's rows, y += x[p] * W[p, :], with a block of y held in
// registers over the whole sweep: every element of W is loaded once, by a
// vector load, and feeds one multiply-add.
#pragma once

#include "simd_dispatch.hpp"

namespace rnnkit::detail {

namespace {

static_assert(kMatvecBytes % RNNKIT_VECTOR_BYTES == 0,
              "a row of a matvec's W must hold whole vectors of every path");

// Vectors of y one block holds in registers over the sweep: as many as leave
// a few registers for the broadcast of x[p] (16 registers up to AVX2, 32 with
// AVX-512; W is read by the multiply-adds from memory). 8 independent sums
// keep two multiply-adds a cycle busy through their 4-cycle latency; a block
// of a few vectors would wait on its own sums.
constexpr index_t kMatvecBlock = RNNKIT_VECTOR_BYTES == 64 ? 16 : 12;

#if defined(__GNUC__)
// y[0, NV lanes) = init + sum_p x[p] W[p, 0 : NV lanes), W's rows ld apart;
// init null reads as zeros.
//
// The loops over v are unrolled whole, so that acc lives in registers. Left
// to its heuristics GCC unrolls them only up to 16 iterations, and GCC 12.2
// at -O3 with AVX-512 computes wrong sums for NV = 17 when it does not: its
// loop distribution turns the loops over the array acc into memset and
// memcpy calls out of order (tests/test_inference.py checks every block
// width on every path). Hence the pragmas, and kMatvecBlock <= 16.
template <index_t NV, class Real>
void matvec_block(Real* y, const Real* init, const Real* __restrict x, const Real* __restrict w,
                  index_t k, index_t ld) {
  static_assert(NV <= 16, "the pragmas below unroll at most 16 iterations");
  using V = typename VectorOf<Real>::type;
  constexpr index_t lanes = RNNKIT_VECTOR_BYTES / sizeof(Real);
  V acc[NV];
#pragma GCC unroll 16
  for (index_t v = 0; v < NV; ++v) {
    acc[v] = V{};
    // memcpy: an unaligned load without breaking aliasing rules
    if (init != nullptr) __builtin_memcpy(&acc[v], init + v * lanes, sizeof acc[v]);
  }
  for (index_t p = 0; p < k; ++p) {
    const Real xp = x[p];
    const Real* const row = w + p * ld;
#pragma GCC unroll 16
    for (index_t v = 0; v < NV; ++v) {
      V wv;
      __builtin_memcpy(&wv, row + v * lanes, sizeof wv);
      acc[v] += xp * wv;
    }
  }
#pragma GCC unroll 16
  for (index_t v = 0; v < NV; ++v) __builtin_memcpy(y + v * lanes, &acc[v], sizeof acc[v]);
}
#else
template <index_t NV, class Real>
void matvec_block(Real* y, const Real* init, const Real* __restrict x, const Real* __restrict w,
                  index_t k, index_t ld) {
  constexpr index_t n = NV * RNNKIT_VECTOR_BYTES / sizeof(Real);
  Real acc[n];
  for (index_t j = 0; j < n; ++j) acc[j] = init != nullptr ? init[j] : Real(0);
  for (index_t p = 0; p < k; ++p)
    for (index_t j = 0; j < n; ++j) acc[j] += x[p] * w[p * ld + j];
  for (index_t j = 0; j < n; ++j) y[j] = acc[j];
}
#endif

// matvec_block<NV> for the nv (1 <= nv <= Max) given at run time.
template <index_t Max, class Real>
void matvec_blocks(index_t nv, Real* y, const Real* init, const Real* x, const Real* w, index_t k,
                   index_t ld) {
  if constexpr (Max > 1)
    if (nv < Max) return matvec_blocks<Max - 1>(nv, y, init, x, w, k, ld);
  matvec_block<Max>(y, init, x, w, k, ld);
}

// y (n) = init (n) + x (k) W (k, n), W's rows ld apart; n and ld are whole
// multiples of kMatvecBytes. init may be y itself or null (zeros); k may be 0
// (y = init). y is cut into nearly equal blocks of at most kMatvecBlock
// vectors, so that no block is left with too few sums to hide the latency
// (25 vectors in blocks of at most 12: 9 + 8 + 8, not 12 + 12 + 1).
template <class Real>
void matvec(Real* y, const Real* init, const Real* x, const Real* w, index_t k, index_t n,
            index_t ld) {
  constexpr index_t lanes = RNNKIT_VECTOR_BYTES / sizeof(Real);
  const index_t vectors = n / lanes;
  const index_t blocks = (vectors + kMatvecBlock - 1) / kMatvecBlock;
  for (index_t b = 0; b < blocks; ++b) {
    const index_t v0 = vectors * b / blocks, j = v0 * lanes;
    matvec_blocks<kMatvecBlock>(vectors * (b + 1) / blocks - v0, y + j,
                                init != nullptr ? init + j : nullptr, x, w + j, k, ld);
  }
}

}  // namespace

}  // namespace rnnkit::detail
