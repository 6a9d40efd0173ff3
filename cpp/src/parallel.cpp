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
