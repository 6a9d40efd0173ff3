// A network's forecasts for a batch of one (inference.hpp). Size letters in
// types.hpp and inference.hpp; GHp is G*H rounded up to whole kMatvecBytes,
// the width of a transposed weight's row, and Op likewise O.
#include "rnnkit/inference.hpp"

#include <algorithm>
#include <cstdint>

#include "rnnkit/parallel.hpp"
#include "simd_dispatch.hpp"

namespace rnnkit {

namespace {

template <class Real>
constexpr index_t kAlign = detail::kMatvecBytes / static_cast<index_t>(sizeof(Real));

template <class Real>
index_t padded(index_t n) {
  return (n + kAlign<Real> - 1) / kAlign<Real> * kAlign<Real>;
}

index_t gates_of(Cell cell) { return cell == Cell::lstm ? 4 : cell == Cell::gru ? 3 : 1; }

// dst (cols, ld) = src (rows, cols)^T, the columns past rows left as they are.
template <class Real>
void transpose_into(Real* dst, index_t ld, const Real* src, index_t rows, index_t cols) {
  for (index_t r = 0; r < rows; ++r)
    for (index_t j = 0; j < cols; ++j) dst[j * ld + r] = src[r * cols + j];
}

}  // namespace

template <class Real>
Inference<Real>::Inference(Cell cell, LstmVariant variant, Nonlinearity act, index_t I, index_t H,
                           index_t O, const std::vector<LayerWeights<Real>>& layers,
                           const Real* head_w, const Real* head_b)
    : cell_(cell),
      variant_(variant),
      act_(act),
      I_(I),
      H_(H),
      O_(O),
      GHp_(padded<Real>(gates_of(cell) * H)),
      Op_(padded<Real>(O)) {
  const index_t GH = gates_of(cell) * H, L = static_cast<index_t>(layers.size());
  const bool gru = cell == Cell::gru, lstm = cell == Cell::lstm;
  // Every block below, each rounded up to whole kMatvecBytes so each starts aligned.
  index_t n = H * Op_ + 2 * Op_ + padded<Real>(4 * H) + GHp_;
  for (index_t l = 0; l < L; ++l) {
    const index_t Il = l == 0 ? I : H;
    n += (Il + H) * GHp_ + GHp_ + (gru ? GHp_ : 0);
    n += 2 * 2 * (padded<Real>(Il + H) + (lstm ? padded<Real>(H) : 0));  // two states, two copies
  }
  // zeros: the padding of every block stays zero; kAlign more, to align the first
  storage_.reset(new Real[static_cast<std::size_t>(n + kAlign<Real>)]());

  for (index_t l = 0; l < L; ++l) {
    const LayerWeights<Real>& from = layers[static_cast<std::size_t>(l)];
    Layer layer;
    layer.I = l == 0 ? I : H;
    layer.w = take((layer.I + H) * GHp_);
    transpose_into(layer.w, GHp_, from.w_ih, GH, layer.I);
    transpose_into(layer.w + layer.I * GHp_, GHp_, from.w_hh, GH, H);
    // The LSTM's and the RNN's biases join as the layers' forward joins them;
    // the GRU's b_ih stays apart for its cell.
    layer.bias = take(GHp_);
    for (index_t j = 0; j < GH; ++j)
      layer.bias[j] = gru ? from.b_hh[j] : from.b_ih[j] + from.b_hh[j];
    layer.b_ih = nullptr;
    if (gru) {
      layer.b_ih = take(GHp_);
      std::copy(from.b_ih, from.b_ih + GH, layer.b_ih);
    }
    layers_.push_back(layer);
  }
  head_w_ = take(H * Op_);
  transpose_into(head_w_, Op_, head_w, O, H);
  head_b_ = take(Op_);
  std::copy(head_b, head_b + O, head_b_);
  gates_ = take(padded<Real>(4 * H));  // the GRU's cell keeps a fourth block, hn
  gi_ = take(GHp_);
  head_out_ = take(Op_);
  init_state(carried_);
  init_state(scratch_);
}

template <class Real>
Real* Inference<Real>::take(index_t n) {
  const auto base = reinterpret_cast<std::uintptr_t>(storage_.get());
  const std::size_t skip =
      (detail::kMatvecBytes - base % detail::kMatvecBytes) % detail::kMatvecBytes / sizeof(Real);
  Real* const block = storage_.get() + skip + used_;
  used_ += static_cast<std::size_t>(padded<Real>(n));
  return block;
}

template <class Real>
void Inference<Real>::init_state(State& state) {
  for (auto& copy : state.xh) copy.clear();
  for (auto& copy : state.c) copy.clear();
  for (const Layer& layer : layers_)
    for (int k = 0; k < 2; ++k) {
      state.xh[k].push_back(take(layer.I + H_));
      state.c[k].push_back(cell_ == Cell::lstm ? take(H_) : nullptr);
    }
}

template <class Real>
void Inference<Real>::zero(State& state) {
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const index_t n = layers_[l].I + H_;
    for (int k = 0; k < 2; ++k) {
      std::fill(state.xh[k][l], state.xh[k][l] + n, Real(0));
      if (state.c[k][l] != nullptr) std::fill(state.c[k][l], state.c[k][l] + H_, Real(0));
    }
  }
  state.cur = 0;
}

template <class Real>
void Inference<Real>::advance(State& state, const Real* row, bool from_zero) {
  const auto& kernels = detail::active_kernels().template get<Real>();
  const int cur = state.cur, next = 1 - cur;
  const index_t H = H_, kh = from_zero ? 0 : H;
  const Real* input = row;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    const index_t I = layer.I;
    Real* const xh = state.xh[cur][l];        // [x_t | h_{t-1}]
    Real* const h_t = state.xh[next][l] + I;  // the next step's h part
    std::copy(input, input + I, xh);
    if (cell_ == Cell::lstm) {
      // gates = b_ih + b_hh + [x_t | h_{t-1}] [W_ih | W_hh]^T, then c_t, h_t
      kernels.matvec(gates_, layer.bias, xh, layer.w, I + kh, GHp_, GHp_);
      kernels.lstm_cell_forward[static_cast<int>(variant_)](gates_, state.c[next][l], h_t,
                                                            state.c[cur][l], H);
    } else if (cell_ == Cell::gru) {
      // gi = x_t W_ih^T;  gates[:3H] = h_{t-1} W_hh^T + b_hh;  then the cell
      kernels.matvec(gi_, nullptr, xh, layer.w, I, GHp_, GHp_);
      kernels.matvec(gates_, layer.bias, xh + I, layer.w + I * GHp_, kh, GHp_, GHp_);
      kernels.gru_cell_forward(gates_, h_t, gi_, layer.b_ih, xh + I, H);
    } else {
      // h_t = act(b_ih + b_hh + [x_t | h_{t-1}] [W_ih | W_hh]^T)
      kernels.matvec(gates_, layer.bias, xh, layer.w, I + kh, GHp_, GHp_);
      kernels.activate(gates_, H, act_);
      std::copy(gates_, gates_ + H, h_t);
    }
    input = h_t;
  }
  state.cur = next;
}

template <class Real>
void Inference<Real>::head(Real* out, const State& state) {
  // out = head_b + h W_head^T, h the last layer's
  const Real* const h = state.xh[state.cur].back() + layers_.back().I;
  detail::active_kernels().template get<Real>().matvec(head_out_, head_b_, h, head_w_, H_, Op_,
                                                       Op_);
  std::copy(head_out_, head_out_ + O_, out);
}

template <class Real>
double Inference<Real>::multiply_adds(index_t T) const {
  double per_step = 0;
  for (const Layer& layer : layers_) per_step += double(layer.I + H_) * double(GHp_);
  return double(T) * per_step + double(H_) * double(Op_);
}

template <class Real>
void Inference<Real>::window(Real* out, const Real* x, index_t T) {
  // As every kernel does (parallel.hpp): decayed states stay out of the slow denormal range.
  const DenormalsAreZero flush;
  zero(scratch_);
  for (index_t t = 0; t < T; ++t) advance(scratch_, x + t * I_, t == 0);
  head(out, scratch_);
}

template <class Real>
void Inference<Real>::step(Real* out, const Real* row) {
  const DenormalsAreZero flush;
  advance(carried_, row, false);
  head(out, carried_);
}

template <class Real>
void Inference<Real>::reset() {
  zero(carried_);
}

template <class Real>
void Inference<Real>::get_state(Real* h, Real* c) const {
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Real* const h_l = carried_.xh[carried_.cur][l] + layers_[l].I;
    std::copy(h_l, h_l + H_, h + static_cast<index_t>(l) * H_);
    const Real* const c_l = carried_.c[carried_.cur][l];
    if (c != nullptr && c_l != nullptr) std::copy(c_l, c_l + H_, c + static_cast<index_t>(l) * H_);
  }
}

template <class Real>
void Inference<Real>::set_state(const Real* h, const Real* c) {
  zero(carried_);
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const index_t at = static_cast<index_t>(l) * H_;
    std::copy(h + at, h + at + H_, carried_.xh[0][l] + layers_[l].I);
    if (c != nullptr && carried_.c[0][l] != nullptr)
      std::copy(c + at, c + at + H_, carried_.c[0][l]);
  }
}

template class Inference<float>;
template class Inference<double>;

}  // namespace rnnkit
