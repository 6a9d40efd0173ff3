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
) -> tuple[
    NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F], NDArray[_F]
]: ...
def num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def build_info() -> _BuildInfo: ...
def simd_path() -> Literal["avx512", "avx2", "portable"]: ...
def supported_simd_paths() -> list[str]: ...
def set_simd_path(name: str) -> None: ...
