// A trained network's forecasts one window or one step at a time: stacked
// RNN, GRU or LSTM layers and a linear head on the last layer's hidden state,
// for a batch of one. Size letters in types.hpp, and
//   L  layers     O  outputs of the head
//
// The layers' forward kernels (rnn.hpp, lstm.hpp, gru.hpp) are made for
// batches: each call packs its weights for the blocked product and allocates
// its outputs and the activations a backward pass needs. A live forecast runs
// one window of one series at a time, where that setup costs more than the
// arithmetic. This object does it once: it copies the weights, transposed so
// that the product of one row is a sweep of vector multiply-adds over them
// (matvec_impl.hpp), and holds every buffer a call needs, so that a call
// allocates nothing, starts no threads and keeps no activations. The cells'
// element-wise steps are the layers' own (cells_impl.hpp), on the SIMD path
// active at each call. Results equal the layers' forward to rounding.
#pragma once

#include <memory>
#include <vector>

#include "rnnkit/lstm.hpp"
#include "rnnkit/rnn.hpp"
#include "rnnkit/types.hpp"

namespace rnnkit {

enum class Cell { rnn, gru, lstm };

// One layer's parameters in PyTorch's layout (G = 1, 3 or 4 gate rows per
// unit): w_ih (G*H, I) with I the input size for layer 0 and H above it,
// w_hh (G*H, H), b_ih (G*H), b_hh (G*H).
template <class Real>
struct LayerWeights {
  const Real* w_ih;
  const Real* w_hh;
  const Real* b_ih;
  const Real* b_hh;
};

template <class Real>
class Inference {
 public:
  // layers (L of them), head_w (O, H), head_b (O): copied, so the object
  // holds a snapshot of the weights. variant is read for the LSTM, act for
  // the RNN.
  Inference(Cell cell, LstmVariant variant, Nonlinearity act, index_t I, index_t H, index_t O,
            const std::vector<LayerWeights<Real>>& layers, const Real* head_w, const Real* head_b);
  Inference(const Inference&) = delete;
  Inference& operator=(const Inference&) = delete;

  index_t input_size() const { return I_; }
  index_t hidden_size() const { return H_; }
  index_t num_layers() const { return static_cast<index_t>(layers_.size()); }
  index_t output_size() const { return O_; }
  Cell cell() const { return cell_; }

  // The multiply-adds of the products of T steps, head included: what a call
  // of window (T) or step (T = 1) computes, for a caller deciding whether
  // the call is worth handing its thread's other work elsewhere.
  double multiply_adds(index_t T) const;

  // out (O) = the head on h_T of the last layer after the window x (T, I),
  // T >= 1, from a zero state: what the layers' forward and the head give
  // for a batch of one. The carried state (step) is left as it was.
  void window(Real* out, const Real* x, index_t T);

  // The carried state advanced by one input row (I); out (O) = the head on
  // the last layer's new h.
  void step(Real* out, const Real* row);

  // The carried state: h (L, H) and, for the LSTM, c (L, H); zeros after
  // construction and reset(). In set_state a null c (or any c of another
  // cell) reads as zeros.
  void reset();
  void get_state(Real* h, Real* c) const;
  void set_state(const Real* h, const Real* c);

 private:
  struct Layer {
    index_t I;   // inputs: I for layer 0, H above
    Real* w;     // (I + H, GHp): [W_ih | W_hh]^T, columns past G*H zero
    Real* bias;  // (GHp): b_ih + b_hh (RNN, LSTM) or b_hh (GRU)
    Real* b_ih;  // (G*H): the GRU's, added in its cell; null for the others
  };
  // A state of every layer, in two copies that the steps take in turn: a
  // step reads copy `cur` and writes the other. Copy k of layer l holds
  // xh = [x | h] (I_l + H), the layer's input row beside its h, so that both
  // products are one sweep over [W_ih | W_hh]^T, and c (H) for the LSTM.
  struct State {
    std::vector<Real*> xh[2];
    std::vector<Real*> c[2];
    int cur = 0;
  };

  Real* take(index_t n);  // n elements of storage_, aligned for the products
  void init_state(State& state);
  void zero(State& state);
  // Every layer one step on `row` (I); `from_zero`: the state is zeros, so
  // the recurrent products are skipped.
  void advance(State& state, const Real* row, bool from_zero);
  void head(Real* out, const State& state);

  Cell cell_;
  LstmVariant variant_;
  Nonlinearity act_;
  index_t I_, H_, O_, GHp_, Op_;
  std::vector<Layer> layers_;
  Real* head_w_;    // (H, Op): head_w^T, columns past O zero
  Real* head_b_;    // (Op)
  Real* gates_;     // (4H rounded up): a step's pre-activations, then its gates (GRU: and hn)
  Real* gi_;        // (GHp): the GRU's input projection
  Real* head_out_;  // (Op)
  State carried_, scratch_;
  std::unique_ptr<Real[]> storage_;
  std::size_t used_ = 0;  // elements of storage_ taken so far
};

}  // namespace rnnkit
