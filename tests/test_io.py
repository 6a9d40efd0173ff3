"""Save and load without pickle: round trips, and files that must be refused."""

import json
import os
import zipfile

import numpy as np
import pytest

import rnnkit
from rnnkit import Forecaster, io
from rnnkit.datasets import random_walk
from rnnkit.models import SequenceRegressor

FAST = {"hidden_size": 6, "epochs": 2, "lookback": 8, "verbose": 0}


@pytest.fixture(scope="module")
def series():
    return random_walk(300, seed=0)


@pytest.fixture(scope="module")
def forecaster(series):
    return Forecaster(**FAST).fit(series)


@pytest.fixture
def saved(forecaster, tmp_path):
    path = tmp_path / "model.npz"
    forecaster.save(path)
    return path


def test_forecaster_round_trip_predicts_bit_identically(forecaster, series, saved):
    loaded = rnnkit.load(saved)
    assert isinstance(loaded, Forecaster)
    assert loaded.get_params() == forecaster.get_params()
    np.testing.assert_array_equal(loaded.predict(series), forecaster.predict(series))
    assert loaded.evaluate(as_frame=False) == forecaster.evaluate(as_frame=False)


def test_regressor_round_trip(tmp_path):
    model = SequenceRegressor(cell="rnn", input_size=2, hidden_size=3, num_layers=2, seed=1)
    rnnkit.save(model, tmp_path / "m.npz")
    loaded = rnnkit.load(tmp_path / "m.npz")
    X = np.random.default_rng(0).standard_normal((4, 5, 2))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.config() == model.config()


def rewrite(path, change):
    """Rewrite the archive at path after change(contents: dict of arrays)."""
    with np.load(path) as archive:
        contents = {key: archive[key] for key in archive.files}
    change(contents)
    with open(path, "wb") as f:
        np.savez(f, **contents)


def header_of(contents):
    return json.loads(contents[io.HEADER].tobytes())


def set_header(contents, header):
    contents[io.HEADER] = np.frombuffer(json.dumps(header).encode(), np.uint8)


def test_truncated_file_is_refused(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable rnnkit model file"):
        rnnkit.load(saved)


def test_changed_weight_is_refused(saved):
    def nudge(contents):
        contents["model/weight_hh_l0"] = contents["model/weight_hh_l0"] + np.float32(1e-3)

    rewrite(saved, nudge)
    with pytest.raises(ValueError, match="'model/weight_hh_l0' fails its checksum"):
        rnnkit.load(saved)


def test_unknown_version_is_refused(saved):
    def bump(contents):
        set_header(contents, {**header_of(contents), "format_version": 99})

    rewrite(saved, bump)
    with pytest.raises(ValueError, match="format version 99"):
        rnnkit.load(saved)


def test_unknown_class_is_refused(saved):
    def rename(contents):
        set_header(contents, {**header_of(contents), "class": "os.system"})

    rewrite(saved, rename)
    with pytest.raises(ValueError, match=r"unknown class 'os\.system'"):
        rnnkit.load(saved)


class Trap:
    """Unpickling this would create a file: loading must never do it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_objects_never_run(saved, tmp_path):
    sprung = tmp_path / "sprung"

    def plant(contents):
        contents["model/weight_hh_l0"] = np.array([Trap(str(sprung))], dtype=object)

    with np.load(saved) as archive:
        contents = {key: archive[key] for key in archive.files}
    plant(contents)
    with open(saved, "wb") as f:
        np.savez(f, **contents, allow_pickle=True)
    with pytest.raises(ValueError, match="not a readable rnnkit model file"):
        rnnkit.load(saved)
    assert not sprung.exists()


def test_not_a_model_file(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ValueError, match="not an rnnkit model file"):
        rnnkit.load(path)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable"):
        rnnkit.load(text)
    with pytest.raises(FileNotFoundError):
        rnnkit.load(tmp_path / "missing.npz")


def test_failed_save_keeps_the_earlier_file(saved, tmp_path):
    before = saved.read_bytes()
    with pytest.raises(RuntimeError, match="not fitted"):
        Forecaster().save(saved)
    with pytest.raises(TypeError, match="Forecaster or a SequenceRegressor"):
        rnnkit.save(object(), saved)
    assert saved.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary left behind
    assert zipfile.is_zipfile(saved)
    assert os.path.getsize(saved) > 0
