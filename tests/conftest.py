import pytest

from rnnkit import core


@pytest.fixture
def one_thread():
    """The core on one thread for the test, then as it was."""
    before = core.num_threads()
    core.set_num_threads(1)
    yield
    core.set_num_threads(before)


@pytest.fixture(params=core.supported_simd_paths())
def simd_path(request):
    """Every SIMD path this CPU runs, one at a time, the active one restored after."""
    before = core.simd_path()
    core.set_simd_path(request.param)
    yield request.param
    core.set_simd_path(before)
