// The matrix-product kernels compiled for each instruction set, and the block
// sizes they share (so one set of packing buffers serves them all).
// Private to gemm*.cpp.
#pragma once

#include "rnnkit/gemm.hpp"

namespace rnnkit::detail {

// A's packed block (MC x KC) stays in L2, B's packed slice (KC x NC) in L3,
// one B micro-panel (KC x NR) in L1. MC holds whole tiles of every kernel's
// MR (4, 6, 8), NC of every NR.
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

// Packs all of op(B) (k, n) into dst, which holds packed_size(k, n) elements.
template <class Real>
using PackFn = void (*)(Real* dst, const Real* b, index_t ldb, Op op_b, index_t k, index_t n);

template <class Real>
struct KernelFor {
  GemmFn<Real> gemm;
  PackFn<Real> pack;
  index_t nr;  // columns of a packed micro-panel
};

struct GemmKernel {
  const char* name;
  KernelFor<float> f32;
  KernelFor<double> f64;
  template <class Real>
  const KernelFor<Real>& get() const {
    if constexpr (sizeof(Real) == 4)
      return f32;
    else
      return f64;
  }
};

extern const GemmKernel portable_kernel;
#ifdef RNNKIT_X86_DISPATCH
extern const GemmKernel avx2_kernel;
extern const GemmKernel avx512_kernel;
#endif

}  // namespace rnnkit::detail
