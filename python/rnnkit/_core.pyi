from typing import Literal, TypedDict, TypeVar

import numpy as np
from numpy.typing import NDArray

_F = TypeVar("_F", np.float32, np.float64)

class _BuildInfo(TypedDict):
    version: str
    compiler: str
    build_type: str
    openmp: bool
    openmp_version: int | None

__version__: str

def rnn_forward(
    x: NDArray[_F],
    h0: NDArray[_F] | None,
    w_ih: NDArray[_F],
    w_hh: NDArray[_F],
    b_ih: NDArray[_F],
    b_hh: NDArray[_F],
    nonlinearity: Literal["tanh", "relu"] = "tanh",
) -> tuple[NDArray[_F], NDArray[_F]]: ...
def rnn_backward(
    x: NDArray[_F],
    h0: NDArray[_F] | None,
    w_ih: NDArray[_F],
    w_hh: NDArray[_F],
    y: NDArray[_F],
    dy: NDArray[_F] | None,
    dh_n: NDArray[_F] | None,
    nonlinearity: Literal["tanh", "relu"] = "tanh",
) -> tuple[NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F]]: ...
def lstm_forward(
    x: NDArray[_F],
    h0: NDArray[_F] | None,
    c0: NDArray[_F] | None,
    w_ih: NDArray[_F],
    w_hh: NDArray[_F],
    b_ih: NDArray[_F],
    b_hh: NDArray[_F],
    variant: str = "vanilla",
) -> tuple[NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F]]: ...
def lstm_backward(
    x: NDArray[_F],
    h0: NDArray[_F] | None,
    c0: NDArray[_F] | None,
    w_ih: NDArray[_F],
    w_hh: NDArray[_F],
    y: NDArray[_F],
    gates: NDArray[_F],
    cells: NDArray[_F],
    dy: NDArray[_F] | None,
    dh_n: NDArray[_F] | None,
    dc_n: NDArray[_F] | None,
    variant: str = "vanilla",
) -> tuple[
    NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F]
]: ...
def gru_forward(
    x: NDArray[_F],
    h0: NDArray[_F] | None,
    w_ih: NDArray[_F],
    w_hh: NDArray[_F],
    b_ih: NDArray[_F],
    b_hh: NDArray[_F],
) -> tuple[NDArray[_F], NDArray[_F], NDArray[_F]]: ...
def gru_backward(
    x: NDArray[_F],
    h0: NDArray[_F] | None,
    w_ih: NDArray[_F],
    w_hh: NDArray[_F],
    y: NDArray[_F],
    gates: NDArray[_F],
    dy: NDArray[_F] | None,
    dh_n: NDArray[_F] | None,
) -> tuple[NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F]]: ...

class Inference:
    def __init__(
        self,
        cell: Literal["rnn", "gru", "lstm"],
        weights: list[tuple[NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F]]],
        head_weight: NDArray[_F],
        head_bias: NDArray[_F],
        variant: str = "vanilla",
        nonlinearity: Literal["tanh", "relu"] = "tanh",
    ) -> None: ...
    def window(self, x: NDArray[_F]) -> NDArray[_F]: ...
    def step(self, row: NDArray[_F]) -> NDArray[_F]: ...
    def reset(self) -> None: ...
    def get_state(self) -> tuple[NDArray[_F]] | tuple[NDArray[_F], NDArray[_F]]: ...
    def set_state(self, h: NDArray[_F], c: NDArray[_F] | None = None) -> None: ...
    @property
    def cell(self) -> Literal["rnn", "gru", "lstm"]: ...
    @property
    def variant(self) -> str: ...
    @property
    def nonlinearity(self) -> Literal["tanh", "relu"]: ...
    @property
    def dtype(self) -> np.dtype[np.float32] | np.dtype[np.float64]: ...
    @property
    def input_size(self) -> int: ...
    @property
    def hidden_size(self) -> int: ...
    @property
    def num_layers(self) -> int: ...
    @property
    def output_size(self) -> int: ...

def adam_step(
    params: list[NDArray[_F]],
    grads: list[NDArray[_F]],
    exp_avgs: list[NDArray[_F]],
    exp_avg_sqs: list[NDArray[_F]],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    step: int,
    grad_scale: float = 1.0,
) -> None: ...
def sgd_step(
    params: list[NDArray[_F]],
    grads: list[NDArray[_F]],
    momentum_buffers: list[NDArray[_F]] | None,
    *,
    lr: float,
    momentum: float,
    nesterov: bool,
    weight_decay: float,
    grad_scale: float = 1.0,
) -> None: ...
def rmsprop_step(
    params: list[NDArray[_F]],
    grads: list[NDArray[_F]],
    square_avgs: list[NDArray[_F]],
    momentum_buffers: list[NDArray[_F]] | None,
    *,
    lr: float,
    alpha: float,
    eps: float,
    momentum: float,
    weight_decay: float,
    grad_scale: float = 1.0,
) -> None: ...
def sum_of_squares(arrays: list[NDArray[np.float32] | NDArray[np.float64]]) -> float: ...
def num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def _serial_after_fork() -> bool: ...
def _busy_threads_peak(reset: bool = False) -> int: ...
def dynamic() -> bool: ...
def set_dynamic(on: bool) -> None: ...
def build_info() -> _BuildInfo: ...
def simd_path() -> Literal["avx512", "avx2", "portable"]: ...
def supported_simd_paths() -> list[str]: ...
def set_simd_path(name: str) -> None: ...
