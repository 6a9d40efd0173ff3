// The blocked matrix product, written once and compiled once per instruction
// set through simd_path.hpp, which defines
//   RNNKIT_VECTOR_BYTES  the register width the micro-kernel is written for
//   RNNKIT_MR            rows of C held in registers
// Everything here has internal linkage, and nothing from the standard library
// is instantiated out of line, so no code built for a wider instruction set
// can be picked by the linker for a narrower one.
//
// The shape is GotoBLAS / BLIS: C is cut into (MC x NC) blocks, k into KC
// slices; each slice of op(A) and op(B) is packed into contiguous micro-panels
// (zero-padded to whole tiles), so one register-tiled micro-kernel serves
// every transpose and every edge.
#include <cstring>
#include <utility>

#include "rnnkit/parallel.hpp"
#include "simd_dispatch.hpp"

namespace rnnkit::detail {

namespace {

constexpr index_t MR = RNNKIT_MR;

// Two vectors per row of the register tile: 2 * RNNKIT_VECTOR_BYTES bytes of C.
template <class Real>
constexpr index_t NR = 2 * RNNKIT_VECTOR_BYTES / static_cast<index_t>(sizeof(Real));

static_assert(kMC % MR == 0 && kNC % NR<float> == 0 && kNC % NR<double> == 0,
              "the block sizes of simd_dispatch.hpp must hold whole tiles");

inline index_t smaller(index_t a, index_t b) { return a < b ? a : b; }
inline index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

#if defined(__GNUC__)
// GCC and Clang vector extensions: one source, the instruction set chosen by
// the flags of the file that includes this one.
template <class Real>
struct VectorOf;
template <>
struct VectorOf<float> {
  typedef float type __attribute__((vector_size(RNNKIT_VECTOR_BYTES)));
};
template <>
struct VectorOf<double> {
  typedef double type __attribute__((vector_size(RNNKIT_VECTOR_BYTES)));
};

#endif

#if defined(__GNUC__) && !defined(__clang__)
// The rounds of transpose_panel's transpose of L rows r in registers: each
// round swaps the off-diagonal (S x S) blocks of every (2S x 2S) block, with
// two two-vector shuffles per pair of rows, from S = L / 2 down to 1.
template <index_t S, class V, std::size_t... C>
inline void transpose_rounds(V* r, std::index_sequence<C...> lanes) {
  constexpr index_t L = sizeof...(C);
  using Mask = decltype(r[0] < r[0]);  // integers of the elements' size
  // row i keeps its low half of each 2S, takes row i + S's; and back
  constexpr Mask low{((C & S) == 0 ? index_t(C) : L + index_t(C) - S)...};
  constexpr Mask high{((C & S) == 0 ? index_t(C) + S : L + index_t(C))...};
#pragma GCC unroll 16
  for (index_t i = 0; i < L; ++i)
    if ((i & S) == 0) {
      const V a = r[i], b = r[i + S];
      r[i] = __builtin_shuffle(a, b, low);
      r[i + S] = __builtin_shuffle(a, b, high);
    }
  if constexpr (S > 1) transpose_rounds<S / 2>(r, lanes);
}
#endif

// dst[p * ld_dst + i] = src[i * ld_src + p] for p < depth and i < L, zero for
// the rows i >= rows: `rows` rows of a matrix laid out as columns (packing a
// transposed operand, or the forward's step weights), an (L x L) block at a
// time. Element by element, every store down a column lands in another cache
// line (at a 4 KB stride, 36 times as long). With GCC, when a row of
// a block is one vector, the block is transposed in registers
// (transpose_rounds).
template <index_t L, class Real>
void transpose_panel(Real* dst, index_t ld_dst, const Real* src, index_t ld_src, index_t rows,
                     index_t depth) {
  for (index_t p0 = 0; p0 < depth; p0 += L) {
    const index_t n = smaller(L, depth - p0);
    if (rows < L || n < L) {  // an edge block: its n output rows, zeros and then rows x n copies
      for (index_t j = 0; j < n; ++j) {
        Real* const out = dst + (p0 + j) * ld_dst;
        for (index_t i = 0; i < L; ++i) out[i] = Real(0);
        for (index_t i = 0; i < rows; ++i) out[i] = src[i * ld_src + p0 + j];
      }
      continue;
    }
#if defined(__GNUC__) && !defined(__clang__)
    if constexpr (L * index_t(sizeof(Real)) == RNNKIT_VECTOR_BYTES) {
      using V = typename VectorOf<Real>::type;
      V r[L];
      for (index_t i = 0; i < L; ++i) __builtin_memcpy(&r[i], src + i * ld_src + p0, sizeof r[i]);
      transpose_rounds<L / 2>(r, std::make_index_sequence<L>());
      for (index_t j = 0; j < L; ++j) __builtin_memcpy(dst + (p0 + j) * ld_dst, &r[j], sizeof r[j]);
      continue;
    }
#endif
    Real block[L][L];  // through a fixed-size array, which the compiler moves in vectors
    for (index_t i = 0; i < L; ++i)
      for (index_t j = 0; j < L; ++j) block[i][j] = src[i * ld_src + p0 + j];
    for (index_t j = 0; j < L; ++j)
      for (index_t i = 0; i < L; ++i) dst[(p0 + j) * ld_dst + i] = block[i][j];
  }
}

// Rows [i0, i0 + MR) x columns [p0, p0 + kc) of op(A) into ap[p * MR + i],
// rows past m zero. Each loop reads along op(A)'s stored rows.
template <class Real>
void pack_a(Real* ap, const Real* a, index_t lda, Op op_a, index_t m, index_t i0, index_t p0,
            index_t kc) {
  const index_t rows = smaller(MR, m - i0);
  if (op_a == Op::T) {
    if (rows == MR) {  // a whole panel: one fixed-size copy a row (runtime bounds do not vectorise)
      for (index_t p = 0; p < kc; ++p)
        std::memcpy(ap + p * MR, a + (p0 + p) * lda + i0, sizeof(Real) * MR);
      return;
    }
    for (index_t p = 0; p < kc; ++p) {
      for (index_t i = 0; i < rows; ++i) ap[p * MR + i] = a[(p0 + p) * lda + i0 + i];
      for (index_t i = rows; i < MR; ++i) ap[p * MR + i] = Real(0);
    }
    return;
  }
  transpose_panel<MR>(ap, MR, a + i0 * lda + p0, lda, rows, kc);
}

// Rows [p0, p0 + kc) x columns [j0, j0 + NR) of op(B) into bp[p * NR + j],
// columns past n zero.
template <class Real>
void pack_b(Real* bp, const Real* b, index_t ldb, Op op_b, index_t n, index_t p0, index_t kc,
            index_t j0) {
  constexpr index_t nr = NR<Real>;
  const index_t cols = smaller(nr, n - j0);
  if (op_b == Op::N) {
    if (cols == nr) {  // a whole panel, as in pack_a
      for (index_t p = 0; p < kc; ++p)
        std::memcpy(bp + p * nr, b + (p0 + p) * ldb + j0, sizeof(Real) * nr);
      return;
    }
    for (index_t p = 0; p < kc; ++p) {
      for (index_t j = 0; j < cols; ++j) bp[p * nr + j] = b[(p0 + p) * ldb + j0 + j];
      for (index_t j = cols; j < nr; ++j) bp[p * nr + j] = Real(0);
    }
    return;
  }
  constexpr index_t lanes = nr / 2;  // one vector's columns at a time (transpose_panel)
  for (index_t h = 0; h < 2; ++h) {
    const index_t rows = cols > h * lanes ? smaller(lanes, cols - h * lanes) : 0;
    transpose_panel<lanes>(bp + h * lanes, nr, rows > 0 ? b + (j0 + h * lanes) * ldb + p0 : b, ldb,
                           rows, kc);
  }
}

#if defined(__GNUC__)
// c[i, j] (+)= sum_p ap[p, i] * bp[p, j] for the mr x nr corner of one MR x NR tile;
// element (i, j) of c is at c[i * rs + j * cs].
template <class Real>
void micro_kernel(Real* c, index_t rs, index_t cs, const Real* __restrict ap,
                  const Real* __restrict bp, index_t kc, index_t mr, index_t nr, bool add) {
  using V = typename VectorOf<Real>::type;
  constexpr index_t lanes = RNNKIT_VECTOR_BYTES / sizeof(Real);
  V acc[MR][2];
  for (index_t i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = V{};
  for (index_t p = 0; p < kc; ++p) {
    V b0, b1;  // memcpy: an unaligned load without breaking aliasing rules
    __builtin_memcpy(&b0, bp + p * 2 * lanes, sizeof b0);
    __builtin_memcpy(&b1, bp + p * 2 * lanes + lanes, sizeof b1);
    for (index_t i = 0; i < MR; ++i) {
      const Real a = ap[p * MR + i];
      acc[i][0] += a * b0;
      acc[i][1] += a * b1;
    }
  }
  if (cs == 1 && mr == MR && nr == 2 * lanes) {  // a whole tile of a row-major C: vector stores
    for (index_t i = 0; i < MR; ++i)
      for (index_t v = 0; v < 2; ++v) {
        Real* const out = c + i * rs + v * lanes;
        V sum = acc[i][v];
        if (add) {
          V old;
          __builtin_memcpy(&old, out, sizeof old);
          sum += old;
        }
        __builtin_memcpy(out, &sum, sizeof sum);
      }
    return;
  }
  // An edge tile or a transposed C: through memory, element by element. The
  // copy keeps acc out of memory on the hot path above.
  Real tile[MR][2 * lanes];
  for (index_t i = 0; i < MR; ++i) __builtin_memcpy(tile[i], acc[i], sizeof tile[i]);
  for (index_t i = 0; i < mr; ++i)
    for (index_t j = 0; j < nr; ++j) {
      Real& out = c[i * rs + j * cs];
      out = add ? out + tile[i][j] : tile[i][j];
    }
}
#else
template <class Real>
void micro_kernel(Real* c, index_t rs, index_t cs, const Real* __restrict ap,
                  const Real* __restrict bp, index_t kc, index_t mr, index_t nr, bool add) {
  constexpr index_t nrr = NR<Real>;
  Real acc[MR][nrr] = {};
  for (index_t p = 0; p < kc; ++p)
    for (index_t i = 0; i < MR; ++i)
      for (index_t j = 0; j < nrr; ++j) acc[i][j] += ap[p * MR + i] * bp[p * nrr + j];
  for (index_t i = 0; i < mr; ++i)
    for (index_t j = 0; j < nr; ++j) {
      Real& out = c[i * rs + j * cs];
      out = add ? out + acc[i][j] : acc[i][j];
    }
}
#endif

#if defined(__GNUC__)
template <class Real>
using Vec = typename VectorOf<Real>::type;
#endif

// out[i] = sum_p x[p] cols[i * k + p] for i < N: one row of A against every
// column of op(B), the row read once, 2N independent chains in registers.
template <index_t N, class Real>
void dots(Real* out, const Real* __restrict x, const Real* __restrict cols, index_t k) {
  Real sum[N] = {};
  index_t p = 0;
#if defined(__GNUC__)
  constexpr index_t lanes = RNNKIT_VECTOR_BYTES / sizeof(Real);
  Vec<Real> acc[N][2] = {};
  for (; p + 2 * lanes <= k; p += 2 * lanes)
    for (index_t h = 0; h < 2; ++h) {
      Vec<Real> xv, cv;
      __builtin_memcpy(&xv, x + p + h * lanes, sizeof xv);
      for (index_t i = 0; i < N; ++i) {
        __builtin_memcpy(&cv, cols + i * k + p + h * lanes, sizeof cv);
        acc[i][h] += xv * cv;
      }
    }
  for (index_t i = 0; i < N; ++i) {
    const Vec<Real> both = acc[i][0] + acc[i][1];
    for (index_t l = 0; l < lanes; ++l) sum[i] += both[l];
  }
#endif
  for (; p < k; ++p)
    for (index_t i = 0; i < N; ++i) sum[i] += x[p] * cols[i * k + p];
  for (index_t i = 0; i < N; ++i) out[i] = sum[i];
}

#if defined(__GNUC__)
// acc (N, U vectors from j) = sum_p B(p, i) A[p, j0 + j + .] (axpys).
template <index_t N, index_t U, class Real, class BAt>
void axpy_vectors(Real* acc, const Real* a, index_t lda, const BAt& b_at, index_t k, index_t j0,
                  index_t j, index_t width) {
  constexpr index_t lanes = RNNKIT_VECTOR_BYTES / sizeof(Real);
  Vec<Real> sum[U][N] = {};
  for (index_t p = 0; p < k; ++p)
#pragma GCC unroll 8
    for (index_t u = 0; u < U; ++u) {
      Vec<Real> row;
      __builtin_memcpy(&row, a + p * lda + j0 + j + u * lanes, sizeof row);
#pragma GCC unroll 4
      for (index_t i = 0; i < N; ++i) sum[u][i] += b_at(p, i) * row;
    }
  for (index_t u = 0; u < U; ++u)
    for (index_t i = 0; i < N; ++i)
      __builtin_memcpy(acc + i * width + j + u * lanes, &sum[u][i], sizeof sum[u][i]);
}
#endif

// acc (N, width) = sum_p B(p, i) A[p, j0 + j] for j < width: columns of A^T
// in vector registers across all k rows of A, each row read once; U vectors
// of them at a time, so that the FMA units have 8 or more sums in flight
// (N = 4 alone left them waiting on the latency of each).
template <index_t N, class Real, class BAt>
void axpys(Real* acc, const Real* a, index_t lda, const BAt& b_at, index_t k, index_t j0,
           index_t width) {
  index_t j = 0;
#if defined(__GNUC__)
  constexpr index_t lanes = RNNKIT_VECTOR_BYTES / sizeof(Real), U = (8 + N - 1) / N;
  for (; j + U * lanes <= width; j += U * lanes)
    axpy_vectors<N, U>(acc, a, lda, b_at, k, j0, j, width);
  for (; j + lanes <= width; j += lanes) axpy_vectors<N, 1>(acc, a, lda, b_at, k, j0, j, width);
#endif
  for (; j < width; ++j)
    for (index_t i = 0; i < N; ++i) {
      Real sum = 0;
      for (index_t p = 0; p < k; ++p) sum += b_at(p, i) * a[p * lda + j0 + j];
      acc[i * width + j] = sum;
    }
}

// C (m, N) (+)= op(A) op(B), N <= kNarrowColumns (gemm_narrow).
template <index_t N, class Real>
void gemm_narrow_n(Real* c, index_t ldc, const Real* a, index_t lda, Op op_a, const Real* b,
                   index_t ldb, Op op_b, index_t m, index_t k, Update update, Real* scratch) {
  const auto b_at = [=](index_t p, index_t i) {
    return op_b == Op::N ? b[p * ldb + i] : b[i * ldb + p];
  };
  const auto store = [=](Real* out, Real value) {
    *out = update == Update::accumulate ? *out + value : value;
  };
  const double work = double(m) * double(N) * double(k);
  if (op_a == Op::N) {
    Real* const cols = scratch;  // (N, k): the columns of op(B), contiguous
    for (index_t i = 0; i < N; ++i)
      for (index_t p = 0; p < k; ++p) cols[i * k + p] = b_at(p, i);
    parallel_for(m, work, [=](index_t r) {
      Real out[N];
      dots<N>(out, a + r * lda, cols, k);
      for (index_t i = 0; i < N; ++i) store(c + r * ldc + i, out[i]);
    });
    return;
  }
  constexpr index_t block = 256;  // columns of A per task
  parallel_for(ceil_div(m, block), work, [=](index_t jb) {
    const index_t j0 = jb * block, width = smaller(block, m - j0);
    Real* const acc = scratch + j0 * N;  // (N, width)
    axpys<N>(acc, a, lda, b_at, k, j0, width);
    for (index_t j = 0; j < width; ++j)
      for (index_t i = 0; i < N; ++i) store(c + (j0 + j) * ldc + i, acc[i * width + j]);
  });
}

// C (m, n) (+)= op(A) op(B) for n <= kNarrowColumns, the input gradients of
// a layer with a few input features: dx = dg W_ih and dW_ih = dg^T x.
// Tiles would pad n to NR columns and packing would copy all of A for a few
// multiply-adds per element, so A is read in place, once:
//   op_a N: C[r, :] = A[r, :] op(B), op(B)'s columns copied once;
//   op_a T: C[j, :] = sum over the rows r of A of A[r, j] op(B)[r, :].
// scratch holds n * k (op_a N) or n * m (op_a T) elements. Results do not depend on the thread
// count.
template <class Real>
void gemm_narrow(Real* c, index_t ldc, const Real* a, index_t lda, Op op_a, const Real* b,
                 index_t ldb, Op op_b, index_t m, index_t n, index_t k, Update update,
                 Real* scratch) {
  static_assert(kNarrowColumns == 4, "one case per width below");
  switch (n) {
    case 1:
      return gemm_narrow_n<1>(c, ldc, a, lda, op_a, b, ldb, op_b, m, k, update, scratch);
    case 2:
      return gemm_narrow_n<2>(c, ldc, a, lda, op_a, b, ldb, op_b, m, k, update, scratch);
    case 3:
      return gemm_narrow_n<3>(c, ldc, a, lda, op_a, b, ldb, op_b, m, k, update, scratch);
    default:
      return gemm_narrow_n<4>(c, ldc, a, lda, op_a, b, ldb, op_b, m, k, update, scratch);
  }
}

// Where the (jc, pc) slice of op(B) starts in a whole packed op(B): every
// column block before jc is kNC wide (a whole number of panels) and k deep,
// every slice before pc in this block is kKC deep and as wide as the block.
template <class Real>
index_t packed_offset(index_t jc, index_t pc, index_t n, index_t k) {
  constexpr index_t nr = NR<Real>;
  return jc * k + pc * ceil_div(smaller(kNC, n - jc), nr) * nr;
}

// What packing one element costs, in the multiply-adds that Team weighs a
// region's work in: 1 MB of weights took some 60 microseconds on one core.
constexpr double kPackCost = 16;

// All of op(B) (k, n), panel by panel of nr columns, the panels split among threads.
template <class Real>
void pack_whole(Real* dst, const Real* b, index_t ldb, Op op_b, index_t k, index_t n) {
  constexpr index_t nr = NR<Real>;
  const double work = kPackCost * double(k) * double(n);
  parallel_for(
      ceil_div(n, nr), work,
      [=](index_t panel) {
        const index_t j0 = panel * nr, jc = j0 / kNC * kNC;  // its first column, its block's
        for (index_t pc = 0; pc < k; pc += kKC) {
          const index_t kc = smaller(kKC, k - pc);
          pack_b(dst + packed_offset<Real>(jc, pc, n, k) + (j0 - jc) * kc, b, ldb, op_b, n, pc, kc,
                 j0);
        }
      },
      Site::pack);
}

template <class Real>
void gemm_blocked(Real* c, index_t rs_c, index_t cs_c, const Real* a, index_t lda, Op op_a,
                  const Real* b, index_t ldb, Op op_b, const Real* packed, index_t m, index_t n,
                  index_t k, Update update, Real* ap, Real* pack_b_space) {
  constexpr index_t nr = NR<Real>;
  const Team team(Site::product, double(m) * double(n) * double(k));
  // Thread `rank` of `size` takes its contiguous share of every loop below;
  // each writes disjoint panels or disjoint tiles of C, and each element's sum
  // over k runs in the same order on any number of threads. The shares are
  // explicit, not OpenMP worksharing, because a product on one thread may run
  // inside a caller's own region, whose team must not share its loops.
  Barrier meet;
  const auto product = [&](index_t rank, index_t size) {
    const auto share = [=](index_t count, const auto& body) {
      for (index_t i = count * rank / size; i < count * (rank + 1) / size; ++i) body(i);
    };
    // Keeps a packed block whole until every tile that reads it is done.
    const auto barrier = [&] {
      if (size > 1) meet.arrive_and_wait(static_cast<int>(size));
    };
    for (index_t jc = 0; jc < n; jc += kNC) {
      const index_t nc = smaller(kNC, n - jc);
      const index_t n_panels = ceil_div(nc, nr);
      for (index_t pc = 0; pc < k; pc += kKC) {
        const index_t kc = smaller(kKC, k - pc);
        const bool add = update == Update::accumulate || pc > 0;
        const Real* const bp =
            packed != nullptr ? packed + packed_offset<Real>(jc, pc, n, k) : pack_b_space;
        if (packed == nullptr) {
          share(n_panels, [&](index_t jp) {
            pack_b(pack_b_space + jp * kc * nr, b, ldb, op_b, n, pc, kc, jc + jp * nr);
          });
          barrier();
        }
        for (index_t ic = 0; ic < m; ic += kMC) {
          const index_t mc = smaller(kMC, m - ic);
          const index_t m_panels = ceil_div(mc, MR);
          share(m_panels, [&](index_t ip) {
            pack_a(ap + ip * kc * MR, a, lda, op_a, m, ic + ip * MR, pc, kc);
          });
          barrier();
          share(n_panels * m_panels, [&](index_t tile) {
            const index_t jp = tile / m_panels, ip = tile % m_panels;
            const index_t i0 = ic + ip * MR, j0 = jc + jp * nr;
            micro_kernel(c + i0 * rs_c + j0 * cs_c, rs_c, cs_c, ap + ip * kc * MR,
                         bp + jp * kc * nr, kc, smaller(MR, m - i0), smaller(nr, n - j0), add);
          });
          barrier();
        }
      }
    }
  };
  // One region for the whole product, its k slices and blocks kept apart by
  // the barriers above: a region's start and end cost some microseconds, as
  // much as several barriers, and a product at every step of a time loop has
  // GH / kKC slices. None for one thread: a serial region costs about a
  // microsecond, as much as a small product.
  if (team.size() > 1) {
#pragma omp parallel num_threads(team.size())
    {
      const InRegion in_region;
      product(team_rank(), team_size());
    }
  } else {
    product(0, 1);
  }
}

}  // namespace

}  // namespace rnnkit::detail
