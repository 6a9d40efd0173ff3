// Cache-blocked matrix product in the GotoBLAS / BLIS shape: C is cut into
// (MC x NC) blocks, k into KC slices; each slice of op(A) and op(B) is packed
// into contiguous micro-panels (zero-padded to whole tiles) so that one
// register-tiled micro-kernel serves every transpose and every edge. The
// micro-kernel is plain C++ whose inner loop runs over contiguous columns:
// the compiler vectorises it for whatever instruction set the target has.
#include "rnnkit/gemm.hpp"

#include <algorithm>
#include <vector>

#include "rnnkit/parallel.hpp"

namespace rnnkit {

namespace {

// Tile of C held in registers: MR rows by NR columns, NR spanning two
// 16-byte vectors (8 floats or 4 doubles).
constexpr index_t MR = 4;
template <class Real>
constexpr index_t NR = 32 / static_cast<index_t>(sizeof(Real));

// A's packed block (MC x KC) stays in L2, B's packed slice (KC x NC) in L3,
// one B micro-panel (KC x NR) in L1.
constexpr index_t KC = 256;
constexpr index_t MC = 128;
constexpr index_t NC = 1024;

template <class Real>
inline Real element(const Real* p, index_t ld, Op op, index_t row, index_t col) {
  return op == Op::N ? p[row * ld + col] : p[col * ld + row];
}

// Rows [i0, i0 + MR) x columns [p0, p0 + kc) of op(A) into ap[p * MR + i],
// rows past m zero.
template <class Real>
void pack_a(Real* ap, const Real* a, index_t lda, Op op_a, index_t m, index_t i0, index_t p0,
            index_t kc) {
  for (index_t p = 0; p < kc; ++p)
    for (index_t i = 0; i < MR; ++i)
      ap[p * MR + i] = i0 + i < m ? element(a, lda, op_a, i0 + i, p0 + p) : Real(0);
}

// Rows [p0, p0 + kc) x columns [j0, j0 + NR) of op(B) into bp[p * NR + j],
// columns past n zero.
template <class Real>
void pack_b(Real* bp, const Real* b, index_t ldb, Op op_b, index_t n, index_t p0, index_t kc,
            index_t j0) {
  constexpr index_t nr = NR<Real>;
  for (index_t p = 0; p < kc; ++p)
    for (index_t j = 0; j < nr; ++j)
      bp[p * nr + j] = j0 + j < n ? element(b, ldb, op_b, p0 + p, j0 + j) : Real(0);
}

// c[i, j] (+)= sum_p ap[p, i] * bp[p, j] for the mr x nr corner of one tile.
template <class Real>
void micro_kernel(Real* c, index_t ldc, const Real* __restrict ap, const Real* __restrict bp,
                  index_t kc, index_t mr, index_t nr, bool add) {
  constexpr index_t NRR = NR<Real>;
  Real acc[MR][NRR] = {};
  for (index_t p = 0; p < kc; ++p)
    for (index_t i = 0; i < MR; ++i)
      for (index_t j = 0; j < NRR; ++j) acc[i][j] += ap[p * MR + i] * bp[p * NRR + j];
  for (index_t i = 0; i < mr; ++i)
    for (index_t j = 0; j < nr; ++j) c[i * ldc + j] = add ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

// Packing space, grown once per calling thread to its fixed maximum so that
// a kernel's time loop never allocates.
template <class Real>
struct PackBuffers {
  std::vector<Real> a, b;
  PackBuffers() : a(MC * KC), b(KC * ceil_div(NC, NR<Real>) * NR<Real>) {}
};

}  // namespace

template <class Real>
void gemm(Real* c, index_t ldc, const Real* a, index_t lda, Op op_a, const Real* b, index_t ldb,
          Op op_b, index_t m, index_t n, index_t k, Update update) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (update == Update::overwrite)
      for (index_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, Real(0));
    return;
  }
  constexpr index_t nr = NR<Real>;
  thread_local PackBuffers<Real> buffers;
  Real* const ap = buffers.a.data();
  Real* const bp = buffers.b.data();
  [[maybe_unused]] const int nt = threads_for(double(m) * double(n) * double(k));

  for (index_t jc = 0; jc < n; jc += NC) {
    const index_t nc = std::min(NC, n - jc);
    const index_t n_panels = ceil_div(nc, nr);
    for (index_t pc = 0; pc < k; pc += KC) {
      const index_t kc = std::min(KC, k - pc);
      const bool add = update == Update::accumulate || pc > 0;
      // One region per k slice; every loop below writes disjoint panels or
      // disjoint tiles of C, and each element's sum over k runs in the same
      // order on any number of threads.
#pragma omp parallel num_threads(nt) if (nt > 1)
      {
#pragma omp for schedule(static)
        for (index_t jp = 0; jp < n_panels; ++jp)
          pack_b(bp + jp * kc * nr, b, ldb, op_b, n, pc, kc, jc + jp * nr);
        for (index_t ic = 0; ic < m; ic += MC) {
          const index_t mc = std::min(MC, m - ic);
          const index_t m_panels = ceil_div(mc, MR);
          // The implicit barrier after each loop keeps the packed A block
          // whole until every tile that reads it is done.
#pragma omp for schedule(static)
          for (index_t ip = 0; ip < m_panels; ++ip)
            pack_a(ap + ip * kc * MR, a, lda, op_a, m, ic + ip * MR, pc, kc);
#pragma omp for collapse(2) schedule(static)
          for (index_t ip = 0; ip < m_panels; ++ip)
            for (index_t jp = 0; jp < n_panels; ++jp) {
              const index_t i0 = ic + ip * MR, j0 = jc + jp * nr;
              micro_kernel(c + i0 * ldc + j0, ldc, ap + ip * kc * MR, bp + jp * kc * nr, kc,
                           std::min(MR, m - i0), std::min(nr, n - j0), add);
            }
        }
      }
    }
  }
}

template void gemm<float>(float*, index_t, const float*, index_t, Op, const float*, index_t, Op,
                          index_t, index_t, index_t, Update);
template void gemm<double>(double*, index_t, const double*, index_t, Op, const double*, index_t, Op,
                           index_t, index_t, index_t, Update);

}  // namespace rnnkit
