"""Save and load without pickle: round trips, and files that must be refused."""

import errno
import fractions
import json
import os
import zipfile
from pathlib import Path

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


# -- every saved class comes back bit-identical, and so does what it saves again ------------


def _assert_same_forecaster(a, b, series):
    import pandas as pd

    pd.testing.assert_frame_equal(a.predict(series), b.predict(series))
    pd.testing.assert_frame_equal(a.evaluate(), b.evaluate())
    for step in range(1, a.horizon + 1):
        pd.testing.assert_frame_equal(a.test_predictions(step), b.test_predictions(step))
    assert a.get_params() == b.get_params()
    assert a.history_.to_state() == b.history_.to_state()


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("horizon", [1, 3])
def test_fitted_loaded_and_reloaded_forecasters_agree_bit_for_bit(cell, dtype, horizon, tmp_path):
    pd = pytest.importorskip("pandas")
    prices = random_walk(260, seed=3)
    index = pd.date_range("2021-01-01", periods=len(prices), freq="D", tz="America/New_York")
    series = pd.DataFrame({"close": prices, "volume": np.linspace(1, 2, len(prices))}, index=index)
    fitted = Forecaster(cell=cell, dtype=dtype, horizon=horizon, target="close", num_layers=2,
                        **FAST).fit(series)  # fmt: skip
    fitted.save(tmp_path / "a.npz")
    loaded = rnnkit.load(tmp_path / "a.npz")
    loaded.save(tmp_path / "b.npz")
    reloaded = rnnkit.load(tmp_path / "b.npz")
    for other in (loaded, reloaded):
        _assert_same_forecaster(fitted, other, series)
        assert other.model_.dtype == np.dtype(dtype)


def test_a_numpy_series_round_trips_too(tmp_path):
    prices = random_walk(200, seed=4)
    fitted = Forecaster(transform="none", scaler="minmax", **FAST).fit(prices)
    fitted.save(tmp_path / "a.npz")
    loaded = rnnkit.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded.predict(prices), fitted.predict(prices))
    assert loaded.evaluate(as_frame=False) == fitted.evaluate(as_frame=False)


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_sequence_regressor_round_trips_twice(cell, dtype, tmp_path):
    model = SequenceRegressor(cell=cell, input_size=3, hidden_size=4, output_size=2,
                              num_layers=2, dtype=dtype, seed=2)  # fmt: skip
    model.save(tmp_path / "a.npz")
    rnnkit.load(tmp_path / "a.npz").save(tmp_path / "b.npz")
    again = rnnkit.load(tmp_path / "b.npz")
    X = np.random.default_rng(0).standard_normal((5, 7, 3))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert again.config() == model.config()


def pinball(pred, target, quantile=0.9):
    """The pinball loss of a 90% quantile forecast, and its gradient."""
    err = target - pred
    value = float(np.mean(np.maximum(quantile * err, (quantile - 1) * err)))
    return value, np.where(err > 0, -quantile, 1 - quantile) / err.size


def test_a_loss_function_is_saved_by_name_and_must_be_given_again(series, tmp_path):
    fitted = Forecaster(loss=pinball, **FAST).fit(series)
    fitted.save(tmp_path / "q.npz")  # never left unsavable after training
    loaded = rnnkit.load(tmp_path / "q.npz")
    np.testing.assert_array_equal(loaded.predict(series), fitted.predict(series))
    assert loaded.loss == f"function:{__name__}.pinball"
    with pytest.raises(ValueError, match=r"saved with a loss function.*set_params\(loss="):
        loaded.fit(series)
    assert loaded.set_params(loss=pinball).fit(series).loss is pinball


def test_a_parameter_a_file_cannot_hold_is_refused_before_training(series):
    forecaster = Forecaster(**FAST, lr=fractions.Fraction(1, 1000))  # a number, not for JSON
    with pytest.raises(TypeError, match="lr must be a number, a string or a list"):
        forecaster.fit(series)
    assert not hasattr(forecaster, "model_")


def test_a_crafted_header_is_refused_not_obeyed(saved):
    def evil(contents):
        header = header_of(contents)
        header["state"]["baselines"][0]["class"] = "os.system"
        set_header(contents, header)

    rewrite(saved, evil)
    with pytest.raises(ValueError, match=r"unknown baseline 'os\.system'"):
        rnnkit.load(saved)


def test_a_file_of_the_first_format_says_to_fit_again(saved):
    rewrite(saved, lambda c: set_header(c, {**header_of(c), "format_version": 1}))
    with pytest.raises(ValueError, match=r"written by an older rnnkit.*fit the model again"):
        rnnkit.load(saved)


def _edit_state(saved, edit):
    def change(contents):
        header = header_of(contents)
        edit(header["state"])
        set_header(contents, header)

    rewrite(saved, change)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda s: s["params"].update(cell="rnn"), "does not match the parameters"),
        (lambda s: s["baselines"][0]["fitted"].update(n_features_=5), "does not match"),
        (lambda s: s["baselines"][4]["fitted"].update(lookback_=3), "do not fit 1 outputs"),
        (lambda s: s["pipeline"].update(inputs=[0, 0]), "inputs must be distinct"),
        (lambda s: s["pipeline"].update(target="b"), "target must be distinct column"),
        (lambda s: s["pipeline"].update(lookback=0), "lookback must be an int >= 1"),
        (lambda s: s["model"].update(hidden_size=10**7), "do not fit the configuration"),
        (lambda s: s["model"].update(num_layers=10**7), "do not fit the configuration"),
        (lambda s: s.update(baselines=[{"class": "Naive", "params": {}, "fitted": {}}]),
         "n_features_"),
    ],
)  # fmt: skip
def test_a_crafted_state_is_refused_with_a_value_error(saved, edit, words):
    _edit_state(saved, edit)
    with pytest.raises(ValueError, match=words):
        rnnkit.load(saved)


def test_a_class_that_is_not_a_name_is_refused(saved):
    rewrite(saved, lambda c: set_header(c, {**header_of(c), "class": ["Forecaster"]}))
    with pytest.raises(ValueError, match="unknown class"):
        rnnkit.load(saved)


def test_a_loss_without_a_qualified_name_is_still_saved_by_name(series, tmp_path):
    import functools

    fitted = Forecaster(loss=functools.partial(pinball, quantile=0.5), **FAST).fit(series)
    fitted.save(tmp_path / "p.npz")
    assert rnnkit.load(tmp_path / "p.npz").loss == f"function:{__name__}.pinball"


def test_a_saved_file_gets_the_umask_permissions(forecaster, tmp_path):
    before = os.umask(0o022)
    try:
        forecaster.save(tmp_path / "model.npz")
    finally:
        os.umask(before)
    assert (tmp_path / "model.npz").stat().st_mode & 0o777 == 0o644


def test_saving_into_a_missing_folder_names_the_users_path(forecaster, tmp_path):
    path = tmp_path / "no" / "model.npz"
    with pytest.raises(FileNotFoundError) as err:
        forecaster.save(path)
    assert str(path) in str(err.value)
    assert ".rnnkit-" not in str(err.value)


def test_saving_into_a_read_only_folder_names_the_users_path(forecaster, tmp_path, monkeypatch):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:
        # File modes do not stop root: refuse new files in the folder as the kernel would.
        real = os.open

        def refuse(path, flags, *args, **kwargs):
            if flags & os.O_CREAT and os.path.dirname(os.fspath(path)) == str(folder):
                raise PermissionError(13, "Permission denied", path)
            return real(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
    path = folder / "model.npz"
    try:
        with pytest.raises(PermissionError) as err:
            forecaster.save(path)
    finally:
        folder.chmod(0o755)
    assert str(path) in str(err.value)
    assert ".rnnkit-" not in str(err.value)
    assert not any(folder.iterdir())


# -- files that cannot hurt: refused before anything large is decompressed or allocated ----


def _npy_bytes(array):
    import io as _io

    buffer = _io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def _declaring(shape, dtype=np.float64, payload=b""):
    """The bytes of a .npy member whose header declares ``shape`` but holds ``payload``."""
    import io as _io

    buffer = _io.BytesIO()
    header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + payload


def _write_zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _refused_quickly(path, words):
    import time
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=words):
            rnnkit.load(path)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 1.0
    assert peak < 100 * 2**20


def test_a_compressed_member_is_refused_before_it_is_inflated(saved, tmp_path):
    with zipfile.ZipFile(saved) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members["model/weight_hh_l0.npy"] = _npy_bytes(np.zeros((2000, 2000)))  # 32 MB of zeros
    bomb = tmp_path / "bomb.npz"
    _write_zip(bomb, members, zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 1_000_000
    _refused_quickly(bomb, "is compressed; rnnkit stores arrays")


def test_a_member_declaring_more_than_it_holds_is_refused(saved, tmp_path):
    with zipfile.ZipFile(saved) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members["model/weight_hh_l0.npy"] = _declaring((10**6, 10**6), payload=b"\0" * 12_000)
    liar = tmp_path / "liar.npz"
    _write_zip(liar, members)
    _refused_quickly(liar, r"declares \(1000000, 1000000\) of float64 but holds 12000 bytes")


def test_a_header_nested_too_deep_or_too_large_is_refused(tmp_path):
    deep = tmp_path / "deep.npz"
    _write_zip(deep, {"__header__.npy": _npy_bytes(np.frombuffer(b"[" * 200_000, np.uint8))})
    _refused_quickly(deep, "the model header is damaged")
    large = tmp_path / "large.npz"
    _write_zip(large, {"__header__.npy": _npy_bytes(np.zeros(2 << 20, np.uint8))})
    _refused_quickly(large, "the header has .* bytes, above")


def _assert_saved(path, model):
    """The model file at ``path`` holds ``model``'s weights."""
    np.testing.assert_array_equal(
        rnnkit.load(path).state_dict()["weight_hh_l0"], model.state_dict()["weight_hh_l0"]
    )


def test_save_never_replaces_a_file_rnnkit_did_not_write(tmp_path):
    # a Forecaster saved over the user's CSV by a slip of the path must leave it alone
    model = SequenceRegressor("gru", input_size=1, hidden_size=3, seed=0)
    prices = tmp_path / "prices.csv"
    prices.write_text("Date,Close\n2020-01-01,1.0\n")
    with pytest.raises(FileExistsError, match="is not a model rnnkit saved: rnnkit never"):
        rnnkit.save(model, prices)
    assert prices.read_text() == "Date,Close\n2020-01-01,1.0\n"
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    with pytest.raises(FileExistsError):
        rnnkit.save(model, folder)
    # its own file it replaces: save, load, save again at the same path
    path = tmp_path / "m.npz"
    rnnkit.save(model, path)
    rnnkit.save(rnnkit.load(path), path)
    _assert_saved(path, model)


@pytest.mark.parametrize("earlier", [None, "own model"], ids=["new name", "own file there"])
def test_a_file_another_program_puts_there_during_the_save_is_kept(tmp_path, monkeypatch, earlier):
    # save judges the path before it writes; a file another program makes there while the
    # model is being written (a second save, a download) must survive it all the same
    model = SequenceRegressor("lstm", input_size=1, hidden_size=3, seed=0)
    path = tmp_path / "m.npz"
    if earlier:
        rnnkit.save(model, path)
    savez = np.savez

    def savez_then_another_program_writes(*args, **kwargs):
        savez(*args, **kwargs)
        path.unlink(missing_ok=True)
        path.write_text("theirs")

    monkeypatch.setattr(np, "savez", savez_then_another_program_writes)
    with pytest.raises(FileExistsError, match="appeared while rnnkit was writing it") as err:
        rnnkit.save(model, path)
    assert err.value.filename == str(path)
    assert path.read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]  # no temporary left


def test_a_model_file_put_there_during_the_save_is_replaced_as_any_own_file(tmp_path, monkeypatch):
    # the check after the write takes rnnkit's own files as before: saving over them is
    # what save does, whoever wrote them last
    model = SequenceRegressor("lstm", input_size=1, hidden_size=3, seed=0)
    other = SequenceRegressor("lstm", input_size=1, hidden_size=3, seed=1)
    path = tmp_path / "m.npz"
    savez = np.savez

    def savez_then_another_save(*args, **kwargs):
        savez(*args, **kwargs)
        monkeypatch.setattr(np, "savez", savez)
        rnnkit.save(other, path)

    monkeypatch.setattr(np, "savez", savez_then_another_save)
    rnnkit.save(model, path)
    _assert_saved(path, model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_a_save_takes_a_free_name_by_link_or_where_there_are_none_by_rename(tmp_path, monkeypatch):
    model = SequenceRegressor("lstm", input_size=1, hidden_size=3, seed=0)
    link = os.link

    def taken_just_before(src, dst):  # the name taken between the last check and the link
        open(dst, "w").close()
        link(src, dst)

    monkeypatch.setattr(os, "link", taken_just_before)
    with pytest.raises(FileExistsError, match="appeared while rnnkit was writing it; not"):
        rnnkit.save(model, tmp_path / "a.npz")
    assert (tmp_path / "a.npz").read_bytes() == b""

    def no_hard_links(src, dst):  # FAT, some network shares
        raise PermissionError(errno.EPERM, "Operation not permitted", src, None, dst)

    monkeypatch.setattr(os, "link", no_hard_links)
    rnnkit.save(model, tmp_path / "b.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz"]
    _assert_saved(tmp_path / "b.npz", model)

    def taken_then_no_hard_links(src, dst):  # Windows on FAT: EINVAL, the name not checked
        Path(dst).write_text("theirs")
        raise OSError(errno.EINVAL, "Invalid argument", src, None, dst)

    monkeypatch.setattr(os, "link", taken_then_no_hard_links)
    with pytest.raises(FileExistsError, match="appeared while rnnkit was writing it and"):
        rnnkit.save(model, tmp_path / "c.npz")
    assert (tmp_path / "c.npz").read_text() == "theirs"

    def failing(src, dst):  # any other failure is the save's, named by its path
        raise OSError(errno.EIO, "Input/output error", src, None, dst)

    monkeypatch.setattr(os, "link", failing)
    with pytest.raises(OSError, match="Input/output error") as err:
        rnnkit.save(model, tmp_path / "d.npz")
    assert err.value.filename == str(tmp_path / "d.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz", "c.npz"]


def test_a_saved_model_whose_temporary_name_cannot_be_removed_is_saved(tmp_path, monkeypatch):
    # a virus scanner holding the new file open for a moment (Windows): the model is in
    # place under its name, so the save succeeded
    model = SequenceRegressor("lstm", input_size=1, hidden_size=3, seed=0)
    unlink = os.unlink

    def held_open(name, *args, **kwargs):
        if os.path.basename(name).startswith(".rnnkit-"):
            raise PermissionError(errno.EACCES, "Permission denied", name)
        return unlink(name, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", held_open)
    rnnkit.save(model, tmp_path / "m.npz")
    monkeypatch.setattr(os, "unlink", unlink)
    _assert_saved(tmp_path / "m.npz", model)
