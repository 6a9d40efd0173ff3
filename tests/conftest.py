import pytest

from rnnkit import core


@pytest.fixture
def one_thread():
    """The core on one thread for the test, then as it was."""
    before = core.num_threads()
    core.set_num_threads(1)
    yield
    core.set_num_threads(before)
