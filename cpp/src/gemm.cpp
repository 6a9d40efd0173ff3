// Chooses the SIMD path for this CPU once, and runs the matrix product on it,
// giving each calling thread its packing buffers.
#include "rnnkit/gemm.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "simd_dispatch.hpp"

namespace rnnkit {

namespace {

using detail::SimdKernels;

// Best first.
const SimdKernels* const kKernels[] = {
#ifdef RNNKIT_X86_DISPATCH
    &detail::avx512_kernels,
    &detail::avx2_kernels,
#endif
    &detail::portable_kernels,
};

bool cpu_runs(const SimdKernels* kernel) {
#ifdef RNNKIT_X86_DISPATCH
  // libgcc's checks include the operating system's support for the registers.
  if (kernel == &detail::avx512_kernels) return __builtin_cpu_supports("avx512f");
  if (kernel == &detail::avx2_kernels)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return kernel == &detail::portable_kernels;
}

const SimdKernels* find(const char* name) {
  for (const SimdKernels* kernel : kKernels)
    if (std::strcmp(kernel->name, name) == 0) return kernel;
  return nullptr;
}

// The best kernel the CPU runs, or RNNKIT_SIMD's choice when that is lower.
const SimdKernels* initial_kernel() {
  const char* forced = std::getenv("RNNKIT_SIMD");
  bool reached = forced == nullptr || find(forced) == nullptr;
  for (const SimdKernels* kernel : kKernels) {
    reached = reached || std::strcmp(kernel->name, forced) == 0;
    if (reached && cpu_runs(kernel)) return kernel;
  }
  return &detail::portable_kernels;
}

std::atomic<const SimdKernels*> g_kernel{initial_kernel()};

// Packing space, allocated once per calling thread at its fixed maximum so
// that a kernel's time loop never allocates.
template <class Real>
struct PackBuffers {
  std::vector<Real> a = std::vector<Real>(detail::kMC * detail::kKC);
  std::vector<Real> b = std::vector<Real>(detail::kKC * detail::kNC);
};

}  // namespace

const detail::SimdKernels& detail::active_kernels() {
  return *g_kernel.load(std::memory_order_relaxed);
}

const char* simd_path() { return g_kernel.load()->name; }

bool set_simd_path(const char* name) {
  const SimdKernels* kernel = find(name);
  if (kernel == nullptr || !cpu_runs(kernel)) return false;
  g_kernel.store(kernel);
  return true;
}

std::vector<const char*> supported_simd_paths() {
  std::vector<const char*> names;
  for (const SimdKernels* kernel : kKernels)
    if (cpu_runs(kernel)) names.push_back(kernel->name);
  return names;
}

namespace {

// The product on `kernel`, op(B) given as a matrix or packed (b unused then).
template <class Real>
void run(const SimdKernels* kernel, Real* c, index_t ldc, const Real* a, index_t lda, Op op_a,
         const Real* b, index_t ldb, Op op_b, const Real* packed, index_t m, index_t n, index_t k,
         Update update) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (update == Update::overwrite)
      for (index_t i = 0; i < m; ++i) std::memset(c + i * ldc, 0, sizeof(Real) * n);
    return;
  }
  thread_local PackBuffers<Real> buffers;
  const auto& impl = kernel->get<Real>();
  // The narrow product's scratch holds op(B)'s columns (op_a N) or C^T
  // (op_a T): its size never depends on the rows of a batch, so splitting a
  // batch among threads never changes which product runs.
  const index_t scratch_rows = op_a == Op::N ? k : m;
  if (packed == nullptr && n <= detail::kNarrowColumns &&
      std::size_t(n) * std::size_t(scratch_rows) <= buffers.b.size()) {
    impl.gemm_narrow(c, ldc, a, lda, op_a, b, ldb, op_b, m, n, k, update, buffers.b.data());
    return;
  }
  // A product with fewer columns than a tile (dx = dG W_ih and dW_ih = dG^T x
  // have I of them, often 1 to 16) would pad every tile to nr columns; as
  // C^T = op(B)^T op(A)^T its few columns are rows, padded to MR only.
  if (packed == nullptr && n < impl.nr && n < m) {
    const auto flip = [](Op op) { return op == Op::N ? Op::T : Op::N; };
    impl.gemm(c, 1, ldc, b, ldb, flip(op_b), a, lda, flip(op_a), nullptr, n, m, k, update,
              buffers.a.data(), buffers.b.data());
    return;
  }
  impl.gemm(c, ldc, 1, a, lda, op_a, b, ldb, op_b, packed, m, n, k, update, buffers.a.data(),
            buffers.b.data());
}

index_t round_up(index_t a, index_t b) { return (a + b - 1) / b * b; }

}  // namespace

template <class Real>
void gemm(Real* c, index_t ldc, const Real* a, index_t lda, Op op_a, const Real* b, index_t ldb,
          Op op_b, index_t m, index_t n, index_t k, Update update) {
  run(g_kernel.load(std::memory_order_relaxed), c, ldc, a, lda, op_a, b, ldb, op_b,
      static_cast<const Real*>(nullptr), m, n, k, update);
}

template <class Real>
PackedMatrix<Real>::PackedMatrix(const Real* b, index_t ldb, Op op_b, index_t k, index_t n)
    : kernel_(g_kernel.load(std::memory_order_relaxed)), k_(k), n_(n) {
  const auto& kernel = kernel_->get<Real>();
  data_.resize(static_cast<std::size_t>(round_up(n, kernel.nr) * k));
  kernel.pack(data_.data(), b, ldb, op_b, k, n);
}

template <class Real>
void gemm(Real* c, index_t ldc, const Real* a, index_t lda, Op op_a, const PackedMatrix<Real>& b,
          index_t m, Update update) {
  run(b.kernel(), c, ldc, a, lda, op_a, static_cast<const Real*>(nullptr), 0, Op::N, b.data(), m,
      b.cols(), b.rows(), update);
}

#define RNNKIT_INSTANTIATE(Real)                                                                \
  template void gemm<Real>(Real*, index_t, const Real*, index_t, Op, const Real*, index_t, Op,  \
                           index_t, index_t, index_t, Update);                                  \
  template class PackedMatrix<Real>;                                                            \
  template void gemm<Real>(Real*, index_t, const Real*, index_t, Op, const PackedMatrix<Real>&, \
                           index_t, Update);
RNNKIT_INSTANTIATE(float)
RNNKIT_INSTANTIATE(double)
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
