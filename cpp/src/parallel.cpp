#include "rnnkit/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <utility>

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
std::atomic<bool> g_dynamic{true};
std::atomic<bool> g_serial_after_fork{false};

#ifdef RNNKIT_HAS_FORK
void after_fork_in_child();  // defined below, with the counts it resets
[[maybe_unused]] const int g_fork_handler = pthread_atfork(nullptr, nullptr, after_fork_in_child);
#endif
#endif

// Below this many multiply-adds (some 10 microseconds of one core's vector
// work) a region's fork, barriers and join cost more than a second core
// saves; measured on the benchmark grid, 1 against 2 threads.
constexpr double kMinParallelWork = 524288.0;

// The threads running kernels: callers in a KernelScope (the low 16 bits)
// and the helpers that teams claimed (the high 16 bits), in one word so that
// both change together. The budget of Team and KernelScope. Helpers are at
// most 4095 (set_num_threads' limit); callers, Python threads in kernels at
// once, far fewer than 65536.
std::atomic<unsigned> g_busy{0};
constexpr unsigned kOneHelper = 1u << 16;
int callers_in(unsigned busy) { return static_cast<int>(busy & (kOneHelper - 1)); }
int helpers_in(unsigned busy) { return static_cast<int>(busy / kOneHelper); }

// The same threads counted where they run (KernelScope and InRegion), and the
// most of them at once: what busy_threads_peak reports.
std::atomic<int> g_running{0};
std::atomic<int> g_running_peak{0};

thread_local bool t_in_kernel = false;

void start_running() {
  const int now = g_running.fetch_add(1, std::memory_order_relaxed) + 1;
  int peak = g_running_peak.load(std::memory_order_relaxed);
  while (now > peak &&
         !g_running_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

void stop_running() { g_running.fetch_sub(1, std::memory_order_relaxed); }

#ifdef RNNKIT_WITH_OPENMP
// Up to `want` helpers that the budget allows; with any, the pool has started
// (see g_pool_started).
int claim_helpers(int want) {
  unsigned busy = g_busy.load(std::memory_order_relaxed);
  for (;;) {
    const int take = std::clamp(num_threads() - callers_in(busy) - helpers_in(busy), 0, want);
    if (take == 0) return 0;
    if (g_busy.compare_exchange_weak(busy, busy + take * kOneHelper, std::memory_order_relaxed)) {
      g_pool_started.store(true, std::memory_order_relaxed);
      return take;
    }
  }
}

// How long after a team lost (or one thread lost) it is tried again: from the
// first wait, doubling while it keeps losing, up to the last.
constexpr long long kFirstRetryNs = 10'000'000;
constexpr long long kLastRetryNs = 10'000'000'000;
// Half-life of what a site remembers of its runs.
constexpr double kHalfLifeNs = 500'000'000.0;
#endif

// How a thread waits for another: it spins for kSpinNs, which outlasts the
// waits of a quiet machine (a team's threads reach a barrier within a small
// share of a region of a millisecond, and a virtual machine's processor may
// pause for a few hundred microseconds); then it yields its core to any
// thread ready to run there until kYieldNs, which is often the very thread it
// waits for, queued behind it; then it naps (the system adds its timer
// slack, some 50 microseconds, to kNap), leaving its core idle, for the
// scheduler to move a paused thread there. Spinning for less cost 10% at
// H = 512 on a quiet 2-core virtual machine. On a busy machine it is the tries
// of a team that wait here, now and then (see Team): the regions run on one
// thread otherwise.
constexpr long long kSpinNs = 1'000'000;
constexpr long long kYieldNs = 2'000'000;
constexpr auto kNap = std::chrono::microseconds(20);

void relax() {
#if defined(__SSE2__) || defined(_M_X64)
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

long long clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Returns once done() is true, waiting as described at kSpinNs.
template <class Done>
void wait_until(const Done& done) {
  const long long start = clock_ns();
  // The clock is read once every 64 spins: a read costs some 20 ns.
  for (int spin = 1;; ++spin) {
    if (done()) return;
    relax();
    if (spin % 64 == 0 && clock_ns() - start > kSpinNs) break;
  }
  while (!done()) {
    if (clock_ns() - start < kYieldNs)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(kNap);
  }
}

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

bool dynamic() {
#ifdef RNNKIT_WITH_OPENMP
  return g_dynamic.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

void set_dynamic([[maybe_unused]] bool on) {
#ifdef RNNKIT_WITH_OPENMP
  g_dynamic.store(on, std::memory_order_relaxed);
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

// A caller is never refused: it counts at once, so that no region claims
// helpers beyond the budget from then on, and waits only while helpers that
// were claimed before it came fill the budget, for their regions to end. So
// the threads running kernels never exceed the larger of num_threads() and
// the callers.
KernelScope::KernelScope() : counted_(!t_in_kernel) {
  if (!counted_) return;
  t_in_kernel = true;
  g_busy.fetch_add(1, std::memory_order_relaxed);
  wait_until([] {
    const unsigned busy = g_busy.load(std::memory_order_relaxed);
    return helpers_in(busy) == 0 || callers_in(busy) + helpers_in(busy) <= num_threads();
  });
  start_running();
}

KernelScope::~KernelScope() {
  if (!counted_) return;
  stop_running();
  g_busy.fetch_sub(1, std::memory_order_relaxed);
  t_in_kernel = false;
}

InRegion::InRegion() : helper_(team_rank() != 0) {
  if (helper_) start_running();
}

InRegion::~InRegion() {
  if (helper_) stop_running();
}

void Barrier::arrive_and_wait(int size) {
  const unsigned generation = generation_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == size) {
    arrived_.store(0, std::memory_order_relaxed);
    generation_.store(generation + 1, std::memory_order_release);
    return;
  }
  wait_until([&] { return generation_.load(std::memory_order_acquire) != generation; });
}

int busy_threads_peak(bool reset) {
  if (!reset) return g_running_peak.load(std::memory_order_relaxed);
  return g_running_peak.exchange(g_running.load(std::memory_order_relaxed),
                                 std::memory_order_relaxed);
}

#ifdef RNNKIT_WITH_OPENMP
// What a site has measured for one size of work (a power of two of
// multiply-adds), and the tries under way. The threads of several calls may
// use it at once: a lock, held for a few dozen nanoseconds per region of ten
// microseconds or more, keeps a try's runs together.
struct Team::Record {
  static constexpr int kOne = 0, kFull = 1;
  // A try runs a size this many times in a row. Its first run is not timed:
  // it wakes threads that slept meanwhile (a millisecond on some virtual
  // machines), which a team that keeps running does not pay. The fastest of
  // the others is the try's measure, so that runs held up by an interrupt or
  // a hypervisor do not decide it; a size that wins a try by luck loses its
  // lead within a few runs, and waits as after a lost try (see add).
  static constexpr int kTryRuns = 4;
  // A run this long is a try on its own, timed: waking the threads is a small
  // share of it, and a try of four such runs of the slower size would cost
  // as much as hundreds of short ones (a forward pass over a batch of 1,024).
  static constexpr double kLongRunSeconds = 0.02;

  std::mutex lock;
  // Per size, its seconds and its multiply-adds, each run's weighed by how
  // recent it is (halving every kHalfLifeNs), and when it last ran. Their
  // ratio is the size's mean seconds per multiply-add lately: the mean, since
  // what a team must beat on a busy machine is its mean (most of its runs are
  // fast and a few wait milliseconds for a paused thread), and over half a
  // second, so that one such wait on a quiet machine does not swap the sizes.
  double seconds[2] = {0, 0};
  double work[2] = {0, 0};
  long long run_ns[2] = {0, 0};
  long long retry_ns = kFirstRetryNs;
  // The try under way: its size, the runs of it started and finished (0: no
  // try), the seconds per multiply-add of its timed runs and what it cost.
  int trying = kFull;    // the first try of all, of a full team
  long long try_id = 0;  // counts the tries, so that a dropped try's runs are known
  int try_started = 0;
  int try_done = 0;
  int try_timed = 0;
  double try_per_work[kTryRuns] = {};
  double try_seconds = 0;

  bool measured(int size) const { return work[size] > 0; }
  double per_work(int size) const { return seconds[size] / work[size]; }
  // Once both are measured.
  int best() const { return per_work(kFull) <= per_work(kOne) ? kFull : kOne; }

  // The size to run now, and which run of a try it is (0: not a try): a try
  // of each size first, then the faster, and a try of the slower again once
  // its wait is over. Called with the lock held.
  std::pair<int, int> choose(long long now) {
    if (try_started == 0) {
      if (measured(kOne)) {
        const int other = 1 - best();
        if (now - run_ns[other] < retry_ns) return {best(), 0};
        trying = other;
      } else if (measured(kFull)) {
        trying = kOne;  // the full team's first try is over
      }
    }
    if (try_started == kTryRuns) return {best(), 0};  // its last runs are under way
    if (try_started == 0) {  // a new try: what the runs of the last one left is not its own
      try_id += 1;
      try_done = try_timed = 0;
      try_seconds = 0;
    }
    try_started += 1;
    return {trying, try_started};
  }

  // A try's run that could not take its team (the budget was full): the try
  // is dropped, and the size tried again after the wait.
  void drop_try(int size, long long now) {
    run_ns[size] = now;
    try_started = try_done = 0;
    try_id += 1;  // its runs still under way are not counted
  }

  // 50 times `lost` seconds, up to the last wait: a try that may cost that
  // much waits that long, so that tries cost at most some 2% of the time even
  // where a paused thread holds a team up for many milliseconds.
  static long long wait_for(double lost) {
    return static_cast<long long>(std::clamp(50e9 * lost, 0.0, double(kLastRetryNs)));
  }

  // The wait before the slower size is tried again, once it lost `lost`
  // seconds to the other: twice the last wait, and at least wait_for(lost).
  void wait_after_losing(double lost) {
    retry_ns = std::max(std::min(2 * retry_ns, kLastRetryNs), wait_for(lost));
  }

  // Called with the lock held.
  void add(int size, int try_run, long long id, double run_seconds, double run_work,
           long long now) {
    if (try_run > 0 && id != try_id) return;  // a run of a dropped try
    const long long last = run_ns[size];
    run_ns[size] = now;
    if (try_run == 0) {
      const bool was_best = best() == size;
      const double keep = std::exp2(-double(now - last) / kHalfLifeNs);
      seconds[size] = seconds[size] * keep + run_seconds;
      work[size] = work[size] * keep + run_work;
      // A size that won its try and then lost its lead waits as after a lost
      // try, so that a team whose fastest runs are fast on a busy machine, and
      // whose mean is not, is not tried every few milliseconds.
      if (was_best && best() != size)
        wait_after_losing(seconds[size] - per_work(1 - size) * work[size]);
      return;
    }
    // Runs of a try may end in any order when several callers share the record.
    const bool long_run = run_seconds >= kLongRunSeconds;
    try_seconds += run_seconds;
    if ((try_run > 1 || long_run) && try_timed < kTryRuns)
      try_per_work[try_timed++] = run_seconds / run_work;
    if (++try_done < kTryRuns && !long_run) return;
    const int runs = try_done;
    try_started = try_done = 0;
    try_id += 1;                 // the try is over: a run of it still under way is not counted
    if (try_timed == 0) return;  // only its untimed first run ended: no measure
    // The try measures its size afresh: what it measured before is stale.
    seconds[size] = *std::min_element(try_per_work, try_per_work + try_timed) * run_work;
    work[size] = run_work;
    if (!measured(1 - size)) return;  // the first try of all: nothing to compare with yet
    if (best() == size)  // the other size lost its lead: its next try may cost that much
      retry_ns = std::max(kFirstRetryNs,
                          wait_for((per_work(1 - size) - per_work(size)) * run_work * runs));
    else
      wait_after_losing(try_seconds - per_work(1 - size) * run_work * runs);
  }
};

namespace {
constexpr int kSites = 7, kWorkSizes = 64;
Team::Record g_records[kSites][kWorkSizes];
}  // namespace
#endif

Team::Team([[maybe_unused]] Site site, [[maybe_unused]] double work,
           [[maybe_unused]] int max_size) {
#ifdef RNNKIT_WITH_OPENMP
  if (!(work >= kMinParallelWork) || omp_in_parallel()) return;  // NaN work too
  const int largest = std::min(num_threads(), max_size);
  if (largest < 2) return;
  if (!dynamic()) {
    helpers_ = claim_helpers(largest - 1);
    return;
  }
  Record& record =
      g_records[static_cast<int>(site)][std::clamp(std::ilogb(work), 0, kWorkSizes - 1)];
  const long long now = clock_ns();
  const std::lock_guard<std::mutex> hold(record.lock);
  const auto [size, try_run] = record.choose(now);
  if (size == Record::kFull) {
    helpers_ = claim_helpers(largest - 1);
    // A team the budget cut short measures neither size.
    if (helpers_ < largest - 1) {
      if (try_run > 0) record.drop_try(size, now);
      return;
    }
  }
  record_ = &record;
  choice_ = size;
  try_run_ = try_run;
  try_id_ = record.try_id;
  work_ = work;
  start_ns_ = now;
#endif
}

Team::~Team() {
#ifdef RNNKIT_WITH_OPENMP
  if (record_ != nullptr) {
    const long long now = clock_ns();
    const std::lock_guard<std::mutex> hold(record_->lock);
    record_->add(choice_, try_run_, try_id_, double(now - start_ns_) * 1e-9, work_, now);
  }
  g_busy.fetch_sub(helpers_ * kOneHelper, std::memory_order_relaxed);
#endif
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

#if defined(RNNKIT_WITH_OPENMP) && defined(RNNKIT_HAS_FORK)
namespace {
// The child has only the thread that forked, which ran no kernel then (it
// held Python's lock), so no thread of the child runs one.
void after_fork_in_child() {
  if (g_pool_started.load(std::memory_order_relaxed))
    g_serial_after_fork.store(true, std::memory_order_relaxed);
  g_busy.store(0, std::memory_order_relaxed);
  g_running.store(0, std::memory_order_relaxed);
  g_running_peak.store(0, std::memory_order_relaxed);
}
}  // namespace
#endif

}  // namespace rnnkit
