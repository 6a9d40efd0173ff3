#include "rnnkit/parallel.hpp"

#include <atomic>

#ifdef RNNKIT_WITH_OPENMP
#include <omp.h>
#endif

namespace rnnkit {

namespace {

#ifdef RNNKIT_WITH_OPENMP
// Starts at OpenMP's default (OMP_NUM_THREADS, else the core count).
std::atomic<int> g_threads{omp_get_max_threads()};
#endif

// Below this many multiply-adds a region's fork and join cost more than the
// second core saves (a few microseconds against ~1 GFLOP/s of scalar work).
constexpr double kMinParallelWork = 32768.0;

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
  return g_threads.load(std::memory_order_relaxed);
#else
  return 1;
#endif
}

void set_num_threads([[maybe_unused]] int n) {
#ifdef RNNKIT_WITH_OPENMP
  g_threads.store(n, std::memory_order_relaxed);
#endif
}

int threads_for(double work) { return work < kMinParallelWork ? 1 : num_threads(); }

}  // namespace rnnkit
