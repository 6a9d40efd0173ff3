#include "rnnkit/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
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
// both change together. The budget of Team and KernelScope.
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
// Up to `want` helpers that the budget allows.
int claim_helpers(int want) {
  unsigned busy = g_busy.load(std::memory_order_relaxed);
  for (;;) {
    const int take = std::clamp(num_threads() - callers_in(busy) - helpers_in(busy), 0, want);
    if (take == 0) return 0;
    if (g_busy.compare_exchange_weak(busy, busy + take * kOneHelper, std::memory_order_relaxed))
      return take;
  }
}

// How long after a team lost (or one thread lost) it is tried again: from the
// first wait, doubling while it keeps losing, up to the last.
constexpr long long kFirstRetryNs = 10'000'000;
constexpr long long kLastRetryNs = 10'000'000'000;
// Half-life of what a site remembers of its runs.
constexpr double kHalfLifeNs = 500'000'000.0;
#endif

}  // namespace

namespace {

// How a thread waits for another: it spins for kSpinNs, which outlasts the
// waits of a quiet machine, where the threads of a team arrive within
// microseconds of each other; then it yields its core to any thread ready to
// run there until kYieldNs, which is often the very thread it waits for,
// queued behind it; then it naps (the system adds its timer slack, some 50
// microseconds, to kNap), leaving its core idle, for the scheduler to move a
// paused thread there. Napping at once costs more than it saves on a virtual
// machine, whose idle processor the hypervisor may take away for a while.
constexpr long long kSpinNs = 50'000;
constexpr long long kYieldNs = 250'000;
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

// Returns once done() is true: spins, then naps, giving the core away (see
// Barrier).
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

// A caller is never refused: it waits only while helpers fill the budget, for
// their region to end (microseconds to milliseconds), and then counts even
// beyond num_threads(). So the threads running kernels never exceed the
// larger of num_threads() and the callers.
KernelScope::KernelScope() : counted_(!t_in_kernel) {
  if (!counted_) return;
  t_in_kernel = true;
  wait_until([] {
    unsigned busy = g_busy.load(std::memory_order_relaxed);
    const bool room = helpers_in(busy) == 0 || callers_in(busy) + helpers_in(busy) < num_threads();
    return room && g_busy.compare_exchange_strong(busy, busy + 1, std::memory_order_relaxed);
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

void Barrier::arrive_and_wait() {
  const unsigned generation = generation_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == size_) {
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
// multiply-adds). The threads of several calls may update it at once: each
// value is an atomic of its own, and a lost update costs one sample.
struct Team::Record {
  static constexpr int kOne = 0, kFull = 1;
  // A try runs a size this many times in a row. Its first run is not timed:
  // it wakes threads that slept meanwhile (a millisecond on some virtual
  // machines), which a team that keeps running does not pay. The median of
  // the others is the try's measure, so that one run held up by an
  // interrupt or a hypervisor does not decide it.
  static constexpr int kTryRuns = 4;

  // Per size, its seconds and its multiply-adds, each run's weighed by how
  // recent it is (halving every kHalfLifeNs), and when it last ran. Their
  // ratio is the size's mean seconds per multiply-add lately: the mean, since
  // what a team must beat on a busy machine is its mean (most of its runs are
  // fast and a few wait milliseconds for a paused thread), and over half a
  // second, so that one such wait on a quiet machine does not swap the sizes.
  std::atomic<double> seconds[2] = {0.0, 0.0};
  std::atomic<double> work[2] = {0.0, 0.0};
  std::atomic<long long> run_ns[2] = {0, 0};
  std::atomic<long long> retry_ns{kFirstRetryNs};
  // The size of the try under way and its runs still to start (0: none). The
  // first try, of a full team, is under way from the start; one thread's
  // follows.
  std::atomic<int> trying{kFull};
  std::atomic<int> try_left{kTryRuns};
  std::atomic<double> try_per_work[kTryRuns - 1] = {0.0, 0.0, 0.0};
  std::atomic<double> try_seconds{0.0};  // of all its runs: what it cost

  bool measured(int size) const { return work[size].load(std::memory_order_relaxed) > 0; }

  double per_work(int size) const {
    return seconds[size].load(std::memory_order_relaxed) /
           work[size].load(std::memory_order_relaxed);
  }

  // Meaningful once both are measured.
  int best() const { return per_work(kFull) <= per_work(kOne) ? kFull : kOne; }

  // The size to run now, and which run of a try it is (0: not a try): a try
  // of each size first, then the faster, and a try of the slower again once
  // its wait is over.
  std::pair<int, int> choose(long long now) {
    if (try_left.load(std::memory_order_relaxed) == 0) {
      int next = kOne;  // not measured yet: the full team's first try is over
      if (measured(kOne)) {
        next = 1 - best();
        const long long since = now - run_ns[next].load(std::memory_order_relaxed);
        if (since < retry_ns.load(std::memory_order_relaxed)) return {best(), 0};
      }
      trying.store(next, std::memory_order_relaxed);
      try_left.store(kTryRuns, std::memory_order_relaxed);
    }
    int left = try_left.load(std::memory_order_relaxed);
    while (left > 0 && !try_left.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) {
    }
    if (left <= 0) return {best(), 0};  // another thread took the try's last run
    return {trying.load(std::memory_order_relaxed), kTryRuns - left + 1};
  }

  // 50 times `lost` seconds, up to the last wait: a try that may cost that
  // much waits that long, so that tries cost at most some 2% of the time even
  // where a paused thread holds a team up for many milliseconds.
  static long long wait_for(double lost) {
    return static_cast<long long>(std::min(50e9 * lost, double(kLastRetryNs)));
  }

  // The wait before the slower size is tried again, once it lost `lost`
  // seconds to the other: twice the last wait, and at least wait_for(lost).
  void wait_after_losing(double lost) {
    const long long twice = std::min(2 * retry_ns.load(std::memory_order_relaxed), kLastRetryNs);
    retry_ns.store(std::max(twice, wait_for(lost)), std::memory_order_relaxed);
  }

  // How much less the best size takes per multiply-add than the other.
  double lead() const { return std::abs(per_work(kFull) - per_work(kOne)); }

  void add(int size, int try_run, double run_seconds, double run_work, long long now) {
    const long long last = run_ns[size].exchange(now, std::memory_order_relaxed);
    if (try_run == 0) {
      const bool was_best = best() == size;
      const double keep = std::exp2(-double(now - last) / kHalfLifeNs);
      seconds[size].store(seconds[size].load(std::memory_order_relaxed) * keep + run_seconds,
                          std::memory_order_relaxed);
      work[size].store(work[size].load(std::memory_order_relaxed) * keep + run_work,
                       std::memory_order_relaxed);
      // A size that won its try and then lost its lead waits as after a lost
      // try, so that a team whose median is fast on a busy machine, and whose
      // mean is not, is not tried every few milliseconds.
      if (was_best && best() != size)
        wait_after_losing(seconds[size].load(std::memory_order_relaxed) -
                          per_work(1 - size) * work[size].load(std::memory_order_relaxed));
      return;
    }
    try_seconds.store(
        run_seconds + (try_run == 1 ? 0.0 : try_seconds.load(std::memory_order_relaxed)),
        std::memory_order_relaxed);
    if (try_run == 1) return;
    try_per_work[try_run - 2].store(run_seconds / run_work, std::memory_order_relaxed);
    if (try_run < kTryRuns) return;
    double timed[kTryRuns - 1];
    for (int i = 0; i < kTryRuns - 1; ++i)
      timed[i] = try_per_work[i].load(std::memory_order_relaxed);
    std::nth_element(timed, timed + (kTryRuns - 1) / 2, timed + kTryRuns - 1);
    // The try measures its size afresh: what it measured before is stale.
    seconds[size].store(timed[(kTryRuns - 1) / 2] * run_work, std::memory_order_relaxed);
    work[size].store(run_work, std::memory_order_relaxed);
    if (!measured(1 - size)) return;  // the first try of all: nothing to compare with yet
    if (best() == size)  // the other size lost its lead: its next try may cost that much
      retry_ns.store(std::max(kFirstRetryNs, wait_for(lead() * run_work * kTryRuns)),
                     std::memory_order_relaxed);
    else
      wait_after_losing(try_seconds.load(std::memory_order_relaxed) -
                        per_work(1 - size) * run_work * kTryRuns);
  }
};

namespace {
constexpr int kSites = 3, kWorkSizes = 64;
Team::Record g_records[kSites][kWorkSizes];
}  // namespace
#endif

Team::Team([[maybe_unused]] Site site, [[maybe_unused]] double work,
           [[maybe_unused]] int max_size) {
#ifdef RNNKIT_WITH_OPENMP
  if (work < kMinParallelWork || omp_in_parallel()) return;
  const int largest = std::min(num_threads(), max_size);
  if (largest < 2) return;
  if (!dynamic()) {
    helpers_ = claim_helpers(largest - 1);
    if (helpers_ > 0) g_pool_started.store(true, std::memory_order_relaxed);
    return;
  }
  Record& record = g_records[static_cast<int>(site)][std::min(std::ilogb(work), kWorkSizes - 1)];
  const long long now = clock_ns();
  const auto [size, try_run] = record.choose(now);
  if (size == Record::kFull) {
    helpers_ = claim_helpers(largest - 1);
    // A team the budget cut short measures neither size.
    if (helpers_ < largest - 1) return;
    g_pool_started.store(true, std::memory_order_relaxed);
  }
  record_ = &record;
  choice_ = size;
  try_run_ = try_run;
  work_ = work;
  start_ns_ = now;
#endif
}

Team::~Team() {
#ifdef RNNKIT_WITH_OPENMP
  if (record_ != nullptr) {
    const long long now = clock_ns();
    record_->add(choice_, try_run_, double(now - start_ns_) * 1e-9, work_, now);
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
}
}  // namespace
#endif

}  // namespace rnnkit
