"""Save and load models without pickle.

A model file is an ``.npz`` archive: the parameters as plain arrays, and one
array ``__header__`` holding UTF-8 JSON: the format and its version, the
class, its hyperparameters, the fitted scaler, and a SHA-256 of every array so
that a truncated or altered file is refused rather than silently mispredicting.
Loading reads it with ``allow_pickle=False`` and builds only the classes named
in :data:`CLASSES`: whatever the file holds, no code from it runs.
"""

import hashlib
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "rnnkit-model"
FORMAT_VERSION = 1
HEADER = "__header__"


def _digest(array):
    h = hashlib.sha256()
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def _forecaster_state(forecaster):
    header = {
        "params": forecaster.get_params(),
        "model": forecaster.model_.config(),
        "scaler": forecaster.scaler_.to_dict(),
        "column": forecaster.column_,
        "input_size": forecaster.input_size_,
        "history": forecaster.history_.to_dict(),
        "train_seconds": forecaster.train_seconds_,
    }
    return header, forecaster.model_.state_dict()


def _forecaster_from_state(header, arrays):
    from .data import scaler_from_dict
    from .forecaster import Forecaster
    from .models import SequenceRegressor

    forecaster = Forecaster(**header["params"])
    forecaster.model_ = SequenceRegressor.from_config(header["model"])
    forecaster.model_.load_state_dict(arrays)
    forecaster.scaler_ = scaler_from_dict(header["scaler"])
    forecaster.column_ = header["column"]
    forecaster.input_size_ = header["input_size"]
    forecaster.history_ = header["history"]
    forecaster.train_seconds_ = header["train_seconds"]
    return forecaster


def _regressor_state(model):
    return {"model": model.config()}, model.state_dict()


def _regressor_from_state(header, arrays):
    from .models import SequenceRegressor

    model = SequenceRegressor.from_config(header["model"])
    model.load_state_dict(arrays)
    return model


# class name -> (state of an instance, instance from a state): the only classes a file can name
CLASSES = {
    "Forecaster": (_forecaster_state, _forecaster_from_state),
    "SequenceRegressor": (_regressor_state, _regressor_from_state),
}


def save(obj, path):
    """Write a fitted :class:`~rnnkit.Forecaster` or a :class:`~rnnkit.models.SequenceRegressor`.

    The file appears whole or not at all: it is written beside ``path`` and
    renamed over it, so an interrupted save leaves an earlier file intact.
    """
    name = type(obj).__name__
    if name not in CLASSES:
        raise TypeError(f"save takes a Forecaster or a SequenceRegressor, got {name}")
    header, arrays = CLASSES[name][0](obj)
    arrays = {key: np.asarray(value) for key, value in arrays.items()}
    if HEADER in arrays:
        raise ValueError(f"a parameter may not be named {HEADER!r}")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": name,
        **header,
        "checksums": {key: _digest(value) for key, value in arrays.items()},
    }
    encoded = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".rnnkit-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{HEADER: encoded}, **arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _read(path):
    """The header dict and the arrays of a model file, every check passed."""
    # Our own handle, so that a file numpy cannot parse is still closed.
    with open(path, "rb") as f:
        try:
            with np.load(f, allow_pickle=False) as archive:
                contents = {key: archive[key] for key in archive.files}
        # NotImplementedError: zipfile's answer to a damaged version or compression field
        except (
            zipfile.BadZipFile,
            EOFError,
            OSError,
            ValueError,
            KeyError,
            NotImplementedError,
        ) as err:
            raise ValueError(
                f"{path} is not a readable rnnkit model file (truncated or corrupted?): {err}"
            ) from err
    if HEADER not in contents:
        raise ValueError(f"{path} is not an rnnkit model file: it has no {HEADER!r}")
    try:
        header = json.loads(contents.pop(HEADER).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: the model header is damaged: {err}") from err
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not an rnnkit model file")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format version {version!r}; this rnnkit reads version "
            f"{FORMAT_VERSION} (a newer rnnkit may have written it)"
        )
    checksums = header.get("checksums", {})
    if set(checksums) != set(contents):
        raise ValueError(
            f"{path}: the arrays in the file do not match its header (tampered or corrupted)"
        )
    for key, array in contents.items():
        if _digest(array) != checksums[key]:
            raise ValueError(f"{path}: array {key!r} fails its checksum (tampered or corrupted)")
    if header.get("class") not in CLASSES:
        raise ValueError(f"{path} holds an unknown class {header.get('class')!r}")
    return header, contents


def load(path):
    """Read a file written by :func:`save` (or ``model.save``) and return the object.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not an rnnkit model file, an unknown format version, or a truncated or
        altered file.
    """
    header, arrays = _read(path)
    try:
        return CLASSES[header["class"]][1](header, arrays)
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: the model header is incomplete or invalid: {err!r}") from err
