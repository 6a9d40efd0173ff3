// The one matrix product every kernel calls. Its blocking, packing and
// threading are private to gemm.cpp, so they can change (SIMD micro-kernels,
// run-time dispatch) without touching a cell.
#pragma once

#include <vector>

#include "rnnkit/types.hpp"

namespace rnnkit {

// Op::T reads a row-major matrix as its transpose.
enum class Op { N, T };

// Overwrite: C = op(A) op(B).  Accumulate: C += op(A) op(B).
enum class Update { overwrite, accumulate };

// c (m, n) row-major with leading dimension ldc;
// op(a) (m, k) and op(b) (k, n), each stored row-major with leading dimension
// lda / ldb as the untransposed matrix (so a is (k, m) when op_a is Op::T).
// k == 0 is allowed: overwrite then zeroes C, accumulate leaves it.
// Results do not depend on the thread count: threads split C, never k.
template <class Real>
void gemm(Real* c, index_t ldc, const Real* a, index_t lda, Op op_a, const Real* b, index_t ldb,
          Op op_b, index_t m, index_t n, index_t k, Update update);

namespace detail {
struct SimdKernels;
}

// op(B) (k, n) packed once, in the layout of the kernel in use, for many
// products with it: the recurrent weights, reused at every time step.
// Allocates; make one per kernel call, outside the time loop.
template <class Real>
class PackedMatrix {
 public:
  PackedMatrix(const Real* b, index_t ldb, Op op_b, index_t k, index_t n);
  index_t rows() const { return k_; }
  index_t cols() const { return n_; }
  const Real* data() const { return data_.data(); }
  const detail::SimdKernels* kernel() const { return kernel_; }

 private:
  const detail::SimdKernels* kernel_;
  index_t k_, n_;
  std::vector<Real> data_;
};

// C (m, n) = or += op(A) (m, k) B, with B packed: k and n are B's.
template <class Real>
void gemm(Real* c, index_t ldc, const Real* a, index_t lda, Op op_a, const PackedMatrix<Real>& b,
          index_t m, Update update);

// The instruction set the product runs on: "avx512", "avx2" or "portable",
// chosen at load time as the best this CPU runs, or lower when the
// environment variable RNNKIT_SIMD names a lower one.
const char* simd_path();

// The paths this CPU and build can run, best first.
std::vector<const char*> supported_simd_paths();

// Run on `name` from now on, in every thread; false (and no change) when this
// CPU or build cannot. For tests and benchmarks.
bool set_simd_path(const char* name);

}  // namespace rnnkit
