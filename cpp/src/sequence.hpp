// What every recurrent layer does around its cell, the same for each cell:
// G is 1 for the RNN, 4 for the LSTM, 3 for the GRU and GH = G * H is the
// width of the pre-activations. Private to the kernels.
//
// Both directions work step by step on data that is hot in cache: the
// forward builds each step's pre-activations with one product over the
// concatenated [1 | x_t | h_{t-1}] (the GRU, whose candidate takes the
// recurrent product apart, projects every step's input before the loop and
// only [1 | h_{t-1}] in it: gru.cpp). The backward's loop runs only what the
// recurrence needs, each step's cell and its product with W_hh; dx, dW_ih,
// the biases and dW_hh wait for its end, where each is one product (or sum)
// over every step that splits well among threads (input_gradients,
// recurrent_weight_gradient). Threads split either each product or the batch
// (over_batch_rows).
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <memory>
#include <vector>

#include "rnnkit/gemm.hpp"
#include "rnnkit/parallel.hpp"
#include "rnnkit/types.hpp"

namespace rnnkit::detail {

// Space for n values that the caller writes in full before reading, such as
// the backward pass's gradients of every step's pre-activations (T*B*GH).
// Each thread keeps one such block between calls: allocated afresh on every
// call it came back from the system as new pages, one fault per 4 KB, which
// took a quarter of a training step at H = 128. A block above kKeptBytes is
// allocated per call instead, so that one huge call does not hold its memory
// for the life of the thread; so is a second block while the first is in use.
// Builds with RNNKIT_POISON_WORKSPACE (the sanitizer builds) fill it with NaN,
// so that a value read before it was written shows in the tests.
template <class Real>
class Workspace {
 public:
  static constexpr std::size_t kKeptBytes = std::size_t(64) << 20;

  explicit Workspace(index_t n) {
    const auto size = static_cast<std::size_t>(n);
    Kept& kept = kept_block();
    if (!kept.busy && size * sizeof(Real) <= kKeptBytes) {
      if (kept.size < size) {
        kept.data.reset();  // before the new block: the peak holds one, not two
        kept.size = 0;
        kept.data.reset(new Real[size]);
        kept.size = size;
      }
      kept.busy = true;
      data_ = kept.data.get();
    } else {
      own_.reset(new Real[size]);
      data_ = own_.get();
    }
#ifdef RNNKIT_POISON_WORKSPACE
    std::fill(data_, data_ + size, std::numeric_limits<Real>::quiet_NaN());
#endif
  }
  ~Workspace() {
    if (own_ == nullptr) kept_block().busy = false;
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  Real* data() const { return data_; }

 private:
  struct Kept {
    std::unique_ptr<Real[]> data;
    std::size_t size = 0;
    bool busy = false;
  };
  static Kept& kept_block() {
    thread_local Kept kept;
    return kept;
  }

  std::unique_ptr<Real[]> own_;
  Real* data_;
};

// dst (n) = src, or zeros when src is null: an incoming state or gradient.
template <class Real>
void copy_or_zero(Real* dst, const Real* src, index_t n) {
  if (src != nullptr)
    std::copy(src, src + n, dst);
  else
    std::fill(dst, dst + n, Real(0));
}

// Asks for the cache lines of p[0, n) with the intent to write them, so that
// a later write does not wait for memory.
template <class Real>
void prefetch_for_writing(const Real* p, index_t n) {
#if defined(__GNUC__)
  constexpr index_t line = 64 / sizeof(Real);
  for (index_t e = 0; e < n; e += line) __builtin_prefetch(p + e, 1, 3);
#else
  (void)p;
  (void)n;
#endif
}

// [b_ih + b_hh | W_ih | W_hh] (GH, 1 + I + H): the biases and both weight
// matrices side by side.
template <class Real>
std::vector<Real> side_by_side(const Real* w_ih, const Real* w_hh, const Real* b_ih,
                               const Real* b_hh, index_t GH, index_t I, index_t H) {
  const index_t K = 1 + I + H;
  std::vector<Real> w(static_cast<std::size_t>(GH * K));
  for (index_t r = 0; r < GH; ++r) {
    w[r * K] = b_ih[r] + b_hh[r];
    std::copy(w_ih + r * I, w_ih + (r + 1) * I, w.begin() + r * K + 1);
    std::copy(w_hh + r * H, w_hh + (r + 1) * H, w.begin() + r * K + 1 + I);
  }
  return w;
}

// A layer's forward product, one step at a time:
//   pre_t = [1 | x_t | h_{t-1}] [b_ih + b_hh | W_ih | W_hh]^T
//         = b_ih + b_hh + x_t W_ih^T + h_{t-1} W_hh^T
// one product of depth 1 + I + H, the bias inside it, writing a block of
// rows that stays in cache for the cell update after it. The weights are
// packed once per call and shared by every thread.
template <class Real>
class StepWeights {
 public:
  //   w_ih (GH, I), w_hh (GH, H), b_ih, b_hh (GH)
  StepWeights(const Real* w_ih, const Real* w_hh, const Real* b_ih, const Real* b_hh, index_t I,
              index_t H, index_t GH)
      : I_(I),
        H_(H),
        GH_(GH),
        packed_(side_by_side(w_ih, w_hh, b_ih, b_hh, GH, I, H).data(), 1 + I + H, Op::T, 1 + I + H,
                GH) {}

  // The packed weights: their path is the layer's path.
  const PackedMatrix<Real>& packed() const { return packed_; }
  std::size_t bytes() const { return sizeof(Real) * std::size_t(GH_) * std::size_t(1 + I_ + H_); }

  // The rows of scratch `project` needs for `rows` batch rows.
  std::vector<Real> scratch(index_t rows) const {
    return std::vector<Real>(static_cast<std::size_t>(rows * (1 + I_ + H_)));
  }

  //   pre_t (rows, GH) out, rows ldc apart, x_t (rows, I), h_prev (rows, H)
  //   may be null (zeros), xh (rows, 1 + I + H) scratch from scratch(rows)
  void project(Real* pre_t, index_t ldc, const Real* x_t, const Real* h_prev, index_t rows,
               Real* xh) const {
    const index_t K = 1 + I_ + H_;
    for (index_t b = 0; b < rows; ++b) {
      Real* const row = xh + b * K;
      row[0] = Real(1);
      std::copy(x_t + b * I_, x_t + (b + 1) * I_, row + 1);
      copy_or_zero(row + 1 + I_, h_prev != nullptr ? h_prev + b * H_ : nullptr, H_);
    }
    gemm(pre_t, ldc, xh, K, Op::N, packed_, rows, Update::overwrite);
  }

 private:
  index_t I_, H_, GH_;
  PackedMatrix<Real> packed_;
};

// Runs body(b0, b1) over the batch rows [b0, b1) of every step, and says
// whether it split them. Two ways to use two or more threads:
//  - one call over all rows, each product inside splitting its columns
//    among the threads, step by step (two barriers a step);
//  - one call per thread over its own rows through all the steps, without a
//    single barrier: rows never meet in the recurrence. Each thread then
//    streams all the weights every step, so this needs them in a core's
//    cache and a batch wide enough for every thread.
// Results are the same either way: every row's sums run in the same order.
template <class Body>
bool over_batch_rows(index_t B, double work, std::size_t weight_bytes, const Body& body) {
  constexpr index_t kMinRows = 8;                      // a tile's height per thread
  constexpr std::size_t kMaxWeightBytes = 512 * 1024;  // half of a 1 MB L2
  if (weight_bytes > kMaxWeightBytes) {
    body(index_t(0), B);
    return false;
  }
  const Team team(Site::rows, work, static_cast<int>(std::min<index_t>(B / kMinRows, 1 << 30)));
  if (team.size() < 2) {
    body(index_t(0), B);
    return false;
  }
  Barrier done;
#pragma omp parallel num_threads(team.size())
  {
    const InRegion in_region;
    const int n = team_size(), k = team_rank();
    body(B * k / n, B * (k + 1) / n);
    done.arrive_and_wait(n);
  }
  return true;
}

// db (n) = the sums of the columns of dg (rows, n), rows ld apart. Threads
// split the columns, one wide block each: rows of dg lie a page or more apart,
// and blocks of a few cache lines a row, reading every row afresh, took four
// times as long (H = 256). Each column's sum runs down its rows in order, so
// the result does not depend on the thread count.
template <class Real>
void column_sums(Real* db, const Real* dg, index_t ld, index_t rows, index_t n) {
  constexpr index_t line = 64 / sizeof(Real);
  const index_t share = (n + num_threads() - 1) / num_threads();
  const index_t block = std::max(line, (share + line - 1) / line * line);
  parallel_for((n + block - 1) / block, double(rows) * double(n), [=](index_t jb) {
    const index_t j0 = jb * block, j1 = std::min(n, j0 + block);
    std::fill(db + j0, db + j1, Real(0));
    for (index_t b = 0; b < rows; ++b)
      for (index_t j = j0; j < j1; ++j) db[j] += dg[b * ld + j];
  });
}

// What the input side takes from dg (rows = T*B, GH) once the loop has filled
// it, every step at once: two products of depth T*B or GH and one sum, each
// split among the threads like dW_hh's. Step by step inside the loop they
// were a few of I's columns (often 1 to 16) over B rows, too small to split,
// and ran on one thread while the others waited. (For the RNN and the LSTM,
// db_hh equals db_ih and is copied once at the end.)
//   dx = dg W_ih,  dW_ih = dg^T x,  db_ih = the sums of dg's columns
//   dx (rows, I), dw_ih (GH, I), db_ih (GH) out, dg rows ld apart, x (rows, I), w_ih (GH, I)
template <class Real>
void input_gradients(Real* dx, Real* dw_ih, Real* db_ih, const Real* dg, index_t ld, const Real* x,
                     const Real* w_ih, index_t rows, index_t I, index_t GH) {
  gemm(dx, I, dg, ld, Op::N, w_ih, I, Op::N, rows, I, GH, Update::overwrite);
  gemm(dw_ih, I, dg, ld, Op::T, x, I, Op::N, GH, I, rows, Update::overwrite);
  column_sums(db_ih, dg, ld, rows, GH);
}

// dW_hh = sum_t dg_t^T h_{t-1} once the loop has filled dg, as one product
// of depth (T - 1) B plus h0's term. h_{t-1} is y_{t-1}, or h0 for t = 0
// (zero when h0 is null).
//   dw_hh (GH, H) out, dg (T*B, GH) rows ld apart, y (T*B, H), h0 (B, H) may be null
template <class Real>
void recurrent_weight_gradient(Real* dw_hh, const Real* dg, index_t ld, const Real* y,
                               const Real* h0, index_t T, index_t B, index_t H, index_t GH) {
  gemm(dw_hh, H, dg + B * ld, ld, Op::T, y, H, Op::N, GH, H, (T - 1) * B, Update::overwrite);
  if (h0 != nullptr) gemm(dw_hh, H, dg, ld, Op::T, h0, H, Op::N, GH, H, B, Update::accumulate);
}

}  // namespace rnnkit::detail
