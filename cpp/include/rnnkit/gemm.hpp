// The one matrix product every kernel calls. Its blocking, packing and
// threading are private to gemm.cpp, so they can change (SIMD micro-kernels,
// run-time dispatch) without touching a cell.
#pragma once

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

}  // namespace rnnkit
