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

}  // namespace rnnkit
