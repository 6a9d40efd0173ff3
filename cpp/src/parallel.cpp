#include "rnnkit/parallel.hpp"

#include <atomic>

#if defined(__SSE__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

#ifdef RNNKIT_WITH_OPENMP
#include <omp.h>
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define RNNKIT_HAS_FORK 1
#endif
#endif

namespace rnnkit {

namespace {

#ifdef RNNKIT_WITH_OPENMP
// Starts at OpenMP's default (OMP_NUM_THREADS, else the core count); the Python
// package sets its own default at import.
std::atomic<int> g_threads{omp_get_max_threads()};

// GNU OpenMP keeps its thread pool across fork() although the child has none of
// those threads, so a parallel region in a child of a process that ran one waits
// for them forever. Such a child runs every kernel on its calling thread instead
// (the results are bitwise those of any thread count).
std::atomic<bool> g_pool_started{false};
std::atomic<bool> g_serial_after_fork{false};

#ifdef RNNKIT_HAS_FORK
void after_fork_in_child() {
  if (g_pool_started.load(std::memory_order_relaxed))
    g_serial_after_fork.store(true, std::memory_order_relaxed);
}
[[maybe_unused]] const int g_fork_handler = pthread_atfork(nullptr, nullptr, after_fork_in_child);
#endif
#endif

// Below this many multiply-adds (some 10 microseconds of one core's vector
// work) a region's fork, barriers and join cost more than a second core
// saves; measured on the benchmark grid, 1 against 2 threads.
constexpr double kMinParallelWork = 524288.0;

}  // namespace

bool openmp_enabled() {
#ifdef RNNKIT_WITH_OPENMP
  return true;
#else
  return false;
#endif
}

int num_threads() {
#ifdef RNNKIT_WITH_OPENMP
  if (g_serial_after_fork.load(std::memory_order_relaxed)) return 1;
  return g_threads.load(std::memory_order_relaxed);
#else
  return 1;
#endif
}

bool serial_after_fork() {
#ifdef RNNKIT_WITH_OPENMP
  return g_serial_after_fork.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

void set_num_threads([[maybe_unused]] int n) {
#ifdef RNNKIT_WITH_OPENMP
  g_threads.store(n, std::memory_order_relaxed);
#endif
}

#if defined(__SSE__) || defined(_M_X64)
// MXCSR: flush-to-zero (bit 15) and denormals-are-zero (bit 6).
constexpr unsigned kDenormalBits = 0x8040;
DenormalsAreZero::DenormalsAreZero() : saved_(_mm_getcsr()) {
  _mm_setcsr(static_cast<unsigned>(saved_) | kDenormalBits);
}
DenormalsAreZero::~DenormalsAreZero() { _mm_setcsr(static_cast<unsigned>(saved_)); }
#elif defined(__aarch64__)
// FPCR: flush-to-zero (bit 24).
constexpr unsigned long long kFlushToZero = 1ull << 24;
DenormalsAreZero::DenormalsAreZero() {
  __asm__ volatile("mrs %0, fpcr" : "=r"(saved_));
  const unsigned long long flushing = saved_ | kFlushToZero;
  __asm__ volatile("msr fpcr, %0" : : "r"(flushing));
}
DenormalsAreZero::~DenormalsAreZero() { __asm__ volatile("msr fpcr, %0" : : "r"(saved_)); }
#else
DenormalsAreZero::DenormalsAreZero() : saved_(0) {}
DenormalsAreZero::~DenormalsAreZero() = default;
#endif

int threads_for(double work) {
#ifdef RNNKIT_WITH_OPENMP
  if (omp_in_parallel()) return 1;
#endif
  const int nt = work < kMinParallelWork ? 1 : num_threads();
#ifdef RNNKIT_WITH_OPENMP
  if (nt > 1) g_pool_started.store(true, std::memory_order_relaxed);
#endif
  return nt;
}

int team_size() {
#ifdef RNNKIT_WITH_OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

int team_rank() {
#ifdef RNNKIT_WITH_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace rnnkit
