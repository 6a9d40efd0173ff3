// Thread count shared by every kernel. With OpenMP it is read at each
// parallel region (not through omp_set_num_threads, whose setting belongs to
// the calling thread only and so would not reach kernels run from other
// Python threads). Without OpenMP everything is serial and the count is 1.
#pragma once

#include "rnnkit/types.hpp"

namespace rnnkit {

bool openmp_enabled();

// Threads the kernels use: 1 without OpenMP.
int num_threads();

// n >= 1 (checked by the caller). Ignored without OpenMP.
void set_num_threads(int n);

// Threads worth starting for `work` multiply-adds: 1 below the size at
// which a parallel region costs more than it saves.
int threads_for(double work);

// body(i) for every i in [0, n), the range split among threads_for(work)
// threads. Race-free when body(i) writes only what belongs to i.
template <class Body>
void parallel_for(index_t n, double work, const Body& body) {
  const int nt = threads_for(work);
  if (nt <= 1) {  // no region at all: even a serial one costs a microsecond
    for (index_t i = 0; i < n; ++i) body(i);
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(static)
  for (index_t i = 0; i < n; ++i) body(i);
}

}  // namespace rnnkit
