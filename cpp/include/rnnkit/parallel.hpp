// Thread count shared by every kernel. With OpenMP it is read at each
// parallel region (not through omp_set_num_threads, whose setting belongs to
// the calling thread only and so would not reach kernels run from other
// Python threads). Without OpenMP everything is serial and the count is 1.
#pragma once

#include <atomic>

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

// Whether a region may run on fewer threads than num_threads() where that is
// faster lately (see Team); on by default. Off, every region above the
// threshold of work takes num_threads() threads that the budget allows, as
// OpenMP would: for benchmarks of a fixed thread count and for tests.
bool dynamic();
void set_dynamic(bool on);

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

// What the calling thread holds while it runs a kernel: denormals flushed
// (DenormalsAreZero), and its place among the threads that run rnnkit's
// kernels, which parallel regions may not outnumber (see Team). Only the
// outermost scope of a thread counts it.
class KernelScope {
 public:
  KernelScope();
  ~KernelScope();
  KernelScope(const KernelScope&) = delete;
  KernelScope& operator=(const KernelScope&) = delete;

 private:
  const DenormalsAreZero flush_;
  bool counted_;
};

// The sites of parallel regions. Each learns on its own which team size
// runs it faster (see Team), so each is one kind of work: a sequence's steps
// split by batch rows or by tiles of units, forward or backward (their work
// per multiply-add differs, and a team measured on one must not decide for
// the other). Where a rows region runs on one thread, the tiles region may
// still take a team: for rows, one thread means "not split by rows". pack:
// the copies that pack weights and operands, memory-bound.
enum class Site { loop, product, forward_rows, forward_tiles, backward_rows, backward_tiles, pack };

// The threads of one parallel region of `work` multiply-adds at `site`, at
// most `max_size`: size() of them, the calling thread included; 1 means run
// serially, without a region.
//
// One thread below kMinParallelWork, and inside a parallel region (the work
// there is already one thread's share). Otherwise the size that is faster
// lately at this site and size of work, measured: every region is timed, and
// a mean of the seconds per multiply-add of one thread and of a full team is
// kept for each (Team::Record in parallel.cpp). On a quiet machine the team
// wins wherever kMinParallelWork lets one start. When another program keeps
// a core busy, a thread of the team waits for a partner the operating system
// has paused, and a region takes up to several times as long as on one
// thread: the site then runs on one thread. The slower size is tried again
// (a few runs) after a wait that doubles while it keeps losing and is at
// least 50 times what its last try lost, so that tries cost some 2% of the
// time at most, and a site finds its team again within seconds of the load
// going away. Results are the same whichever size runs: every sum runs in the
// same order on any number of threads.
//
// The helpers come from a budget shared by every Python thread: the threads
// running kernels (each caller in a KernelScope, each helper in a region)
// never exceed num_threads(), except for callers, which are never refused. A
// region started while others run gets what is left, down to its calling
// thread alone, and then measures nothing.
class Team {
 public:
  static constexpr int kNoLimit = 1 << 30;
  // max_size for a team of at most n threads, n any count of tasks.
  static int at_most(index_t n) { return static_cast<int>(n < kNoLimit ? n : kNoLimit); }

  Team(Site site, double work, int max_size = kNoLimit);
  ~Team();
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;

  int size() const { return 1 + helpers_; }

  struct Record;  // what a site measured for a size of work (parallel.cpp)

 private:
  Record* record_ = nullptr;  // where the region's time goes; null: not timed
  int helpers_ = 0;
  int choice_ = 0;        // Record::kOne or Record::kFull
  int try_run_ = 0;       // which run of a try this is, from 1; 0: not a try
  long long try_id_ = 0;  // which try
  double work_ = 0;
  long long start_ns_ = 0;
};

// Held by every thread of a parallel region, the calling one too: flushes
// denormals and counts a helper among the threads running kernels, for
// busy_threads_peak.
class InRegion {
 public:
  InRegion();
  ~InRegion();
  InRegion(const InRegion&) = delete;
  InRegion& operator=(const InRegion&) = delete;

 private:
  const DenormalsAreZero flush_;
  bool helper_;
};

// The most threads that ran kernels at once since the last reset (reset
// returns the value and starts again from those running now). For the tests
// of the budget; a measurement, not the budget's own count.
int busy_threads_peak(bool reset);

// Where the threads of a team wait for each other: inside a region, and once
// more at its end, so that OpenMP's own join finds them all there. A thread
// waiting here spins for a millisecond and then gives its core away, first by
// yielding, then in short naps (kSpinNs in parallel.cpp): on a busy machine
// the thread it waits for may be paused, ready to run, with no core free, and
// a waiter that keeps spinning holds that thread up for as long.
class Barrier {
 public:
  Barrier() = default;
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  // Returns once `size` threads have arrived: the team that runs, which
  // OpenMP may make smaller than the one asked for (OMP_THREAD_LIMIT). Every
  // write a thread made before arriving is seen by every thread after.
  void arrive_and_wait(int size);

 private:
  std::atomic<int> arrived_{0};
  std::atomic<unsigned> generation_{0};
};

// The calling thread's team: its size and the thread's rank in it (1 and 0
// outside a parallel region).
int team_size();
int team_rank();

// body(i) for every i in [0, n), the range split among the threads of a Team
// of at most n at `site`. Race-free when body(i) writes only what belongs to i.
template <class Body>
void parallel_for(index_t n, double work, const Body& body, Site site = Site::loop) {
  const Team team(site, work, Team::at_most(n));
  if (team.size() <= 1) {  // no region at all: even a serial one costs a microsecond
    for (index_t i = 0; i < n; ++i) body(i);
    return;
  }
  Barrier done;
#pragma omp parallel num_threads(team.size())
  {
    const InRegion in_region;
#pragma omp for schedule(static) nowait
    for (index_t i = 0; i < n; ++i) body(i);
    done.arrive_and_wait(team_size());
  }
}

}  // namespace rnnkit
