// What every recurrent layer does around its cell, the same for each cell:
// G is 1 for the RNN, 4 for the LSTM, 3 for the GRU and GH = G * H is the
// width of the pre-activations. Private to the kernels.
//
// Both directions run each step as one fused pass (step_impl.hpp), tile by
// tile of the units, on data that is hot in cache. The forward's product of
// [x_t | h_{t-1}] with the packed [b | W_ih | W_hh] hands each tile's
// pre-activations straight to the cell update (the GRU, whose candidate takes
// the recurrent product apart, projects every step's input before the loop
// and only h_{t-1} in it: gru.cpp). The backward's product dL/dh_{t-1} =
// dg_t W_hh hands each tile to the cell's backward at t - 1, which writes
// dg_{t-1}, the next product's input. Only the recurrence stays in the loop:
// dx, dW_ih, the biases and dW_hh are products (or sums) over a chunk of
// steps at a time, taken between chunks of the loop (backward_steps). Threads
// split each step's tiles or the batch (over_steps), and each product.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include "rnnkit/gemm.hpp"
#include "rnnkit/parallel.hpp"
#include "rnnkit/types.hpp"
#include "simd_dispatch.hpp"

namespace rnnkit::detail {

// Space for n values that the caller writes in full before reading, such as
// the backward pass's gradients of every step's pre-activations (T*B*GH) or
// a call's packed weights, 64-byte aligned. Each thread keeps kKeptBlocks such
// blocks between calls: allocated afresh on every call they came back from
// the system as new pages, one fault per 4 KB, which took a quarter of a
// training step at H = 128. A block above kKeptBytes is allocated per call
// instead, so that one huge call does not hold its memory for the life of the
// thread; so is a block asked for while all the kept ones are in use.
// Builds with RNNKIT_POISON_WORKSPACE (the sanitizer builds) fill it with NaN,
// so that a value read before it was written shows in the tests.
template <class Real>
class Workspace {
 public:
  static constexpr std::size_t kKeptBytes = std::size_t(64) << 20;
  static constexpr int kKeptBlocks = 2;  // a call's packed weights and its gradients

  explicit Workspace(index_t n) {
    const auto size = static_cast<std::size_t>(n);
    if (size == 0) return;  // nothing to hold, so no kept block taken from another
    if (size * sizeof(Real) <= kKeptBytes)
      for (Kept& block : kept_blocks())  // the largest free one
        if (!block.busy && (kept_ == nullptr || block.size > kept_->size)) kept_ = &block;
    if (kept_ != nullptr) {
      if (kept_->size < size) {
        kept_->data.reset();  // before the new block: the peak holds one, not two
        kept_->size = 0;
        kept_->data = allocate(size);
        kept_->size = size;
      }
      kept_->busy = true;
      data_ = kept_->data.get();
    } else {
      own_ = allocate(size);
      data_ = own_.get();
    }
#ifdef RNNKIT_POISON_WORKSPACE
    std::fill(data_, data_ + size, std::numeric_limits<Real>::quiet_NaN());
#endif
  }
  ~Workspace() {
    if (kept_ != nullptr) kept_->busy = false;
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  Real* data() const { return data_; }

 private:
  struct AlignedDelete {
    void operator()(Real* p) const { ::operator delete[](p, std::align_val_t(64)); }
  };
  using Block = std::unique_ptr<Real[], AlignedDelete>;
  static Block allocate(std::size_t n) { return Block(new (std::align_val_t(64)) Real[n]); }
  struct Kept {
    Block data;
    std::size_t size = 0;
    bool busy = false;
  };
  static std::array<Kept, kKeptBlocks>& kept_blocks() {
    thread_local std::array<Kept, kKeptBlocks> kept;
    return kept;
  }

  Kept* kept_ = nullptr;
  Block own_;
  Real* data_ = nullptr;
};

// dst (n) = src, or zeros when src is null: an incoming state or gradient.
template <class Real>
void copy_or_zero(Real* dst, const Real* src, index_t n) {
  if (src != nullptr)
    std::copy(src, src + n, dst);
  else
    std::fill(dst, dst + n, Real(0));
}

// Where a forward puts one kind of state (rows of n values) at every step:
// the step's rows of `kept` (T*n, an output of the call), or, when that is
// null (inference), two blocks of rows that take turns.
template <class Real>
class StepStates {
 public:
  StepStates(Real* kept, index_t n)
      : kept_(kept), n_(n), turns_(static_cast<std::size_t>(kept == nullptr ? 2 * n : 0)) {}
  Real* at(index_t t) { return kept_ != nullptr ? kept_ + t * n_ : turns_.data() + (t % 2) * n_; }

 private:
  Real* kept_;
  index_t n_;
  std::vector<Real> turns_;
};

// Inputs from which a layer's forward projects them, x_t W_ih^T, before the
// steps that read them (forward_steps), as one product over many steps:
// W_ih's rows then leave the per-step product, which streams W_hh alone, as
// the weights of a stacked layer (I = H) would otherwise double. Below, they
// ride along in the step at no cost that a product of their own would save.
constexpr index_t kProjectedInputs = 32;
// Steps a projection runs ahead: the workspace holds that many steps' rows,
// so that an inference's memory grows with the batch, not with T.
constexpr index_t kProjectedSteps = 16;

// A layer's step weights, packed once per call for the path in use into the
// tiles of its fused steps (step_impl.hpp), and shared by every thread.
template <class Real>
class StepWeights {
 public:
  // The forward's, gate-interleaved:
  //   pre_t = b_ih + b_hh + x_t W_ih^T + h_{t-1} W_hh^T
  // (the GRU, whose b_ih joins in its cell, passes b_ih null and I = 0).
  //   w_ih (G*H, I), w_hh (G*H, H), b_ih, b_hh (G*H)
  StepWeights(const Real* w_ih, const Real* w_hh, const Real* b_ih, const Real* b_hh, index_t G,
              index_t I, index_t H)
      : StepWeights(G, I < kProjectedInputs ? I : 0, H, H, H) {
    std::vector<Real> bias(b_hh, b_hh + G * H);
    if (b_ih != nullptr)
      for (index_t r = 0; r < G * H; ++r) bias[r] = b_ih[r] + b_hh[r];
    path_->pack_step(data_.data(), w_ih, w_hh, H, 1, bias.data(), G, I_, H, H);
  }

  // The backward's, unit by unit: dL/dh_{t-1} = dg_t W_hh, with dg_t (B, GH),
  // its rows ld apart, and W_hh (GH, H).
  StepWeights(const Real* w_hh, index_t GH, index_t H, index_t ld) : StepWeights(1, 0, GH, H, ld) {
    path_->pack_step(data_.data(), nullptr, w_hh, 1, H, nullptr, 1, 0, GH, H);
  }

  // Whether the steps take their input projection from before the loop
  // (forward_steps) instead of x_t: packed with I = 0 then.
  bool projected(index_t I) const { return I > 0 && I_ == 0; }
  // The path the weights were packed for: the layer's cells run on it.
  const KernelsFor<Real>& path() const { return *path_; }
  PackedStep<Real> packed() const { return {data_.data(), I_, K_, H_, ld_, shape_}; }
  index_t tiles() const { return shape_.tiles; }
  std::size_t bytes() const { return sizeof(Real) * static_cast<std::size_t>(size()); }

 private:
  StepWeights(index_t G, index_t I, index_t K, index_t H, index_t ld)
      : path_(&active_kernels().get<Real>()),
        I_(I),
        K_(K),
        H_(H),
        ld_(ld),
        shape_(step_shape(path_->step_lanes, G, I, K, H)),
        data_(size()) {}

  index_t size() const { return shape_.tile_size * shape_.tiles; }
  const KernelsFor<Real>* path_;
  index_t I_, K_, H_, ld_;
  StepShape shape_;
  Workspace<Real> data_;
};

// Runs step(t, b0, b1, tiles) for t = 0 .. T - 1, each step over batch
// rows [b0, b1) and StepTiles of the layer's units, together covering every
// row and tile, step t + 1 after step t for the same rows, taking its tiles
// in the other direction (StepTiles says why). Two ways to use two or more
// threads:
//  - each thread its own rows through all the steps, without a single
//    barrier: rows never meet in the recurrence. Each thread then streams all
//    the weights every step, so this needs them in a core's cache and a batch
//    wide enough for every thread;
//  - each thread its share of every step's tiles, over all rows, the threads
//    meeting after each step, whose output the next one reads whole. Only
//    for steps of kMinStepWork or more.
// Results are the same either way: every unit's sums run in the same order.
enum class Pass { forward, backward };
// Work of a step (in multiply-adds, as `work` counts) below which its tiles
// stay on one thread: the threads meet after every step, and below this the
// meeting, and the wait for a sibling that the host has descheduled, cost
// more than the split saves. A forward of 300 steps at a batch of one, one
// thread against two, per step: H = 32 (13K) 0.12 vs 0.24 us; H = 64 (34K)
// 0.12-0.15 vs 0.10-0.27 us, as often slower as faster; H = 80 (48K) 0.21 vs
// 0.16 us, every time. The course model's forecast (H = 50, 24K) on a fixed
// team of two took 32-80 us instead of 17.
constexpr double kMinStepWork = 40000;
template <class Step>
void over_steps(Pass pass, index_t T, index_t B, index_t tiles, double work,
                std::size_t weight_bytes, const Step& step) {
  const bool forward = pass == Pass::forward;
  const auto order = [](index_t t, index_t j0, index_t j1) {
    return StepTiles{j0, j1, t % 2 == 1};
  };
  constexpr index_t kMinRows = 8;                      // a tile's height per thread
  constexpr std::size_t kMaxWeightBytes = 512 * 1024;  // half of a 1 MB L2
  if (weight_bytes <= kMaxWeightBytes) {
    const Team team(forward ? Site::forward_rows : Site::backward_rows, work,
                    Team::at_most(B / kMinRows));
    if (team.size() > 1) {
      Barrier done;
#pragma omp parallel num_threads(team.size())
      {
        const InRegion in_region;
        const int n = team_size(), k = team_rank();
        for (index_t t = 0; t < T; ++t) step(t, B * k / n, B * (k + 1) / n, order(t, 0, tiles));
        done.arrive_and_wait(n);
      }
      return;
    }
  }
  const Team team(forward ? Site::forward_tiles : Site::backward_tiles, work,
                  work / double(T) >= kMinStepWork ? Team::at_most(tiles) : 1);
  if (team.size() < 2) {
    for (index_t t = 0; t < T; ++t) step(t, index_t(0), B, order(t, 0, tiles));
    return;
  }
  Barrier meet;
#pragma omp parallel num_threads(team.size())
  {
    const InRegion in_region;
    const int n = team_size(), k = team_rank();
    for (index_t t = 0; t < T; ++t) {
      step(t, index_t(0), B, order(t, tiles * k / n, tiles * (k + 1) / n));
      meet.arrive_and_wait(n);
    }
  }
}

// The forward's steps t = 0 .. T - 1 (over_steps), given their input
// projection pre_t = x_t W_ih^T (rows GH apart) when `project`: one product
// before every kProjectedSteps steps, into kept (T*B, GH), the gates that the
// steps then overwrite, or, when null, a workspace of one chunk of steps.
// step(t, b0, b1, tiles, pre) gets the rows of pre_t from b0 on, or null.
template <class Real, class Step>
void forward_steps(bool project, index_t T, index_t B, index_t I, index_t GH, const Real* x,
                   const Real* w_ih, Real* kept, index_t tiles, double work,
                   std::size_t weight_bytes, const Step& step) {
  const index_t chunk = project ? std::min(T, kProjectedSteps) : T;
  const Workspace<Real> scratch(project && kept == nullptr ? chunk * B * GH : 0);
  for (index_t t0 = 0; t0 < T; t0 += chunk) {
    const index_t steps = std::min(chunk, T - t0);
    Real* const pre = !project ? nullptr : kept != nullptr ? kept + t0 * B * GH : scratch.data();
    if (project)
      gemm(pre, GH, x + t0 * B * I, I, Op::N, w_ih, I, Op::T, steps * B, GH, I, Update::overwrite);
    over_steps(Pass::forward, steps, B, tiles, work * double(steps) / double(T), weight_bytes,
               [&](index_t s, index_t b0, index_t b1, StepTiles tiles) {
                 step(t0 + s, b0, b1, tiles,
                      pre != nullptr ? pre + (s * B + b0) * GH : static_cast<Real*>(nullptr));
               });
  }
}

// Steps [t0, t1) of a backward: the chunk whose rows of dg a share of the
// gradients takes (backward_steps). The first share overwrites the sums over
// steps (dW_ih, dW_hh, the biases), the later ones add to them.
struct StepRange {
  index_t t0, t1;
  bool first;
  Update update() const { return first ? Update::overwrite : Update::accumulate; }
};

// Bytes of dg the gradient products take at a time (backward_steps): with the
// step weights, within a core's L2.
constexpr std::size_t kGradientChunkBytes = 512 * 1024;

// The steps of a chunk of a backward of T steps whose rows of dg take
// row_bytes each: what fits in kGradientChunkBytes, but at least one slice
// of the products' depth (kKC rows), and up to twice that many steps when
// more fill their last slice better: the product over a chunk reads and
// writes dW_hh (1 MB at H = 256) once per slice, and a chunk of 260 rows in
// slices of 256 and 4 would do so twice as often as one product over every
// step. It depends on T, B and the layer's sizes alone, so results do not
// depend on the thread count.
inline index_t chunk_steps(index_t T, index_t B, std::size_t row_bytes) {
  const auto fit = static_cast<index_t>(kGradientChunkBytes / std::max(row_bytes, std::size_t(1)));
  const index_t least = std::max((kKC + B - 1) / B, fit);
  if (least >= T) return T;
  // the fewest steps whose slices hold the most rows per slice on average
  index_t best = least;
  const auto fill = [=](index_t steps) {  // rows per slice, as a fraction of kKC
    const index_t rows = steps * B;
    return double(rows) / double((rows + kKC - 1) / kKC * kKC);
  };
  for (index_t steps = least + 1; steps <= std::min(2 * least, T); ++steps)
    if (fill(steps) > fill(best)) best = steps;
  return best;
}

// The rows of dg (dL/d(pre-activation), B rows of `width` a step) that a
// backward keeps: those of one chunk of steps [t0, t1), in order, so that
// each gradient product over them is one call, and of step t0 - 1, which the
// chunk's first step writes and the next chunk (earlier in time) starts from:
// next() moves them to that chunk's last step. Memory grows with a chunk of
// steps, not with T.
template <class Real>
class BackwardRows {
 public:
  BackwardRows(index_t T, index_t B, index_t width)
      : B_(B),
        width_(width),
        chunk_(chunk_steps(T, B, sizeof(Real) * B * width)),
        t0_(T - chunk_),
        data_((chunk_ + 1) * B * width) {}

  index_t chunk() const { return chunk_; }
  // Step t's rows, for t - 1 .. t1 - 1 of the current chunk [t0, t1); a
  // chunk's rows are whole steps one after another from at(t0).
  Real* at(index_t t) const { return data_.data() + (t - t0_ + 1) * B_ * width_; }
  // The next chunk, [t0, the current one's t0).
  void next(index_t t0) {
    const Real* const from = at(t0_ - 1);
    const index_t last = t0_ - 1;
    t0_ = t0;
    std::copy(from, from + B_ * width_, at(last));
  }

 private:
  index_t B_, width_, chunk_, t0_;
  Workspace<Real> data_;
};

// db (n) = (or +=) the sums of the columns of dg (rows, n), rows ld apart.
// Threads split the columns, one wide block each: rows of dg lie a page or
// more apart, and blocks of a few cache lines a row, reading every row
// afresh, took four times as long (H = 256). Each column's sum runs down its
// rows in order, so the result does not depend on the thread count.
template <class Real>
void column_sums(Real* db, const Real* dg, index_t ld, index_t rows, index_t n, Update update) {
  constexpr index_t line = 64 / sizeof(Real);
  const index_t share = (n + num_threads() - 1) / num_threads();
  const index_t block = std::max(line, (share + line - 1) / line * line);
  parallel_for((n + block - 1) / block, double(rows) * double(n), [=](index_t jb) {
    const index_t j0 = jb * block, j1 = std::min(n, j0 + block);
    if (update == Update::overwrite) std::fill(db + j0, db + j1, Real(0));
    for (index_t b = 0; b < rows; ++b)
      for (index_t j = j0; j < j1; ++j) db[j] += dg[b * ld + j];
  });
}

// What the input side takes from dg's rows of the steps `range` (from the
// chunk's first, rows ld apart): two products and one sum, each split among
// the threads like dW_hh's. (For the RNN and the LSTM, db_hh equals db_ih and
// is copied once at the end.)
//   dx = dg W_ih,  dW_ih = dg^T x,  db_ih = the sums of dg's columns
//   dx (T*B, I), dw_ih (GH, I), db_ih (GH) out, x (T*B, I), w_ih (GH, I)
template <class Real>
void input_gradients(Real* dx, Real* dw_ih, Real* db_ih, const Real* dg, index_t ld, const Real* x,
                     const Real* w_ih, index_t B, index_t I, index_t GH, StepRange range) {
  const index_t r0 = range.t0 * B, rows = (range.t1 - range.t0) * B;
  gemm(dx + r0 * I, I, dg, ld, Op::N, w_ih, I, Op::N, rows, I, GH, Update::overwrite);
  gemm(dw_ih, I, dg, ld, Op::T, x + r0 * I, I, Op::N, GH, I, rows, range.update());
  column_sums(db_ih, dg, ld, rows, GH, range.update());
}

// dW_hh = (or +=) the sum over the steps t of `range` of dg_t^T h_{t-1}: one
// product of depth (t1 - t0) B, h_{t-1} being y_{t-1}, or h0 for t = 0 (zero
// when h0 is null), whose term comes last.
//   dw_hh (GH, H) out, dg the chunk's rows (ld apart), y (T*B, H), h0 (B, H) may be null
template <class Real>
void recurrent_weight_gradient(Real* dw_hh, const Real* dg, index_t ld, const Real* y,
                               const Real* h0, index_t B, index_t H, index_t GH, StepRange range) {
  const index_t from = std::max(range.t0, index_t(1));  // the first step with an h_{t-1} in y
  const index_t steps = std::max(range.t1 - from, index_t(0));
  gemm(dw_hh, H, dg + (from - range.t0) * B * ld, ld, Op::T, y + (from - 1) * B * H, H, Op::N, GH,
       H, steps * B, range.update());
  if (range.t0 == 0 && h0 != nullptr)
    gemm(dw_hh, H, dg, ld, Op::T, h0, H, Op::N, GH, H, B, Update::accumulate);
}

// The backward's steps t = T - 1 .. 0 (over_steps) in the chunks of `rows`,
// and after each chunk gradients(range) for its steps, whose rows of dg are
// complete once the loop has gone back to the chunk's first step (step t
// writes dg_{t-1}). Taken while those rows are still in L2: after the loop,
// every product read all of dg from L3 again, ~10% of an LSTM's backward at
// H = 128.
//   step(t, b0, b1, tiles) as over_steps'
template <class Real, class Step, class Gradients>
void backward_steps(BackwardRows<Real>& rows, index_t T, index_t B, index_t tiles, double work,
                    std::size_t weight_bytes, const Step& step, const Gradients& gradients) {
  const index_t chunk = rows.chunk();
  for (index_t t1 = T; t1 > 0; t1 -= chunk) {
    const index_t t0 = std::max(t1 - chunk, index_t(0)), steps = t1 - t0;
    if (t1 < T) rows.next(t0);
    over_steps(Pass::backward, steps, B, tiles, work * double(steps) / double(T), weight_bytes,
               [&](index_t s, index_t b0, index_t b1, StepTiles tiles) {
                 step(t1 - 1 - s, b0, b1, tiles);
               });
    gradients(StepRange{t0, t1, t1 == T});
  }
}

}  // namespace rnnkit::detail
