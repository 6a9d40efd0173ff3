// Thread count shared by every kernel. With OpenMP it is read at each
// parallel region (not through omp_set_num_threads, whose setting belongs to
// the calling thread only and so would not reach kernels run from other
// Python threads). Without OpenMP everything is serial and the count is 1.
#pragma once

#include "rnnkit/types.hpp"

namespace rnnkit {

bool openmp_enabled();

// Threads the kernels use: 1 without OpenMP, and 1 in a process forked from one
// whose kernels had started OpenMP threads (see serial_after_fork).
int num_threads();

// True in a child of fork() whose parent had run a parallel region: GNU OpenMP
// cannot start threads there, so the child's kernels run on its calling thread.
bool serial_after_fork();

// n >= 1 (checked by the caller). Ignored without OpenMP.
void set_num_threads(int n);

// Denormal floats read and written as zero by the calling thread while this
// lives (FTZ and DAZ on x86-64, FZ on aarch64); the thread's previous mode
// comes back after. The decaying states and gradients of a recurrent network
// drift into the denormal range, where some CPUs run many times slower; the
// values lost are below 1.2e-38 (float) or 2.3e-308 (double). Every kernel
// holds one on its calling thread and on each thread of its parallel regions.
class DenormalsAreZero {
 public:
  DenormalsAreZero();
  ~DenormalsAreZero();
  DenormalsAreZero(const DenormalsAreZero&) = delete;
  DenormalsAreZero& operator=(const DenormalsAreZero&) = delete;

 private:
  unsigned long long saved_;
};

// Threads worth starting for `work` multiply-adds: 1 below the size at
// which a parallel region costs more than it saves, and 1 inside a parallel
// region (work there is already one thread's share).
int threads_for(double work);

// The calling thread's team: its size and the thread's rank in it (1 and 0
// outside a parallel region).
int team_size();
int team_rank();

// body(i) for every i in [0, n), the range split among threads_for(work)
// threads. Race-free when body(i) writes only what belongs to i.
template <class Body>
void parallel_for(index_t n, double work, const Body& body) {
  const int nt = threads_for(work);
  if (nt <= 1) {  // no region at all: even a serial one costs a microsecond
    for (index_t i = 0; i < n; ++i) body(i);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const DenormalsAreZero flush;
#pragma omp for schedule(static)
    for (index_t i = 0; i < n; ++i) body(i);
  }
}

}  // namespace rnnkit
