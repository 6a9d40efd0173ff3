"""Save and load models without pickle.

A model file is an ``.npz`` archive: the object's arrays, and one array
``__header__`` holding UTF-8 JSON: the format and its version, the class, the
object's JSON-safe state, and a SHA-256 of every array so that a truncated or
altered file is refused rather than silently mispredicting. What goes in and comes
back out is the object's own business (``obj.to_state()`` and
``cls.from_state(state, arrays)``): this module only writes and reads the format.
Loading reads it with ``allow_pickle=False`` and builds only the classes named
in :data:`CLASSES`: whatever the file holds, no code from it runs.
"""

import hashlib
import importlib
import json
import math
import os
import zipfile

import numpy as np

from ._output import replace_atomically

FORMAT = "rnnkit-model"
FORMAT_VERSION = 3  # 3: intervals (the calibration), stateful models
HEADER = "__header__"


def _digest(array):
    h = hashlib.sha256()
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


# The only classes a file can name: class name -> the module that defines it, imported
# when needed (so this module imports no model class). Each one turns itself into a
# JSON-safe dict and arrays (``to_state``) and back (``from_state``).
CLASSES = {"Forecaster": "rnnkit.forecaster", "SequenceRegressor": "rnnkit.models"}


def _class(name):
    return getattr(importlib.import_module(CLASSES[name]), name)


def save(obj, path):
    """Write a fitted :class:`~rnnkit.Forecaster` or a :class:`~rnnkit.models.SequenceRegressor`.

    The file appears whole or not at all: it is written beside ``path`` and
    renamed over it, so an interrupted save leaves an earlier file intact. It gets the
    permissions of any new file (the umask's). An OSError (a missing or read-only
    folder) names ``path``.
    """
    name = type(obj).__name__
    if name not in CLASSES or not isinstance(obj, _class(name)):
        raise TypeError(f"save takes a Forecaster or a SequenceRegressor, got {name}")
    if os.path.lexists(path) and not _saved_by_rnnkit(path):
        raise FileExistsError(
            f"{os.fspath(path)!r} exists and is not a model rnnkit saved: rnnkit never "
            "replaces it; give another path"
        )
    state, arrays = obj.to_state()
    arrays = {key: np.asarray(value) for key, value in arrays.items()}
    if HEADER in arrays:
        raise ValueError(f"a parameter may not be named {HEADER!r}")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": name,
        "state": state,
        "checksums": {key: _digest(value) for key, value in arrays.items()},
    }
    encoded = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **{HEADER: encoded}, **arrays)

    replace_atomically(path, write, replaceable=_saved_by_rnnkit)


def _saved_by_rnnkit(path):
    """Whether ``path`` is a file that :func:`save` wrote: a zip holding its header."""
    try:
        with zipfile.ZipFile(path) as archive:
            return HEADER + ".npy" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


MAX_HEADER_BYTES = 1 << 20  # a header is a few kB; a larger one is not ours
_NPY_HEADERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _check_members(f):
    """Refuse, before anything is decompressed or allocated, an archive whose members could
    cost more than the file: every member stored (as numpy.savez writes them), and every
    array's declared shape and dtype exactly filling its member. Reading then costs time
    and memory in proportion to the file's size. Not a zip at all: numpy's own reading
    says what it is (a pickle is refused there)."""
    if not zipfile.is_zipfile(f):
        f.seek(0)
        return
    with zipfile.ZipFile(f) as archive:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
                raise ValueError(f"member {info.filename!r} is compressed; rnnkit stores arrays")
            if info.filename == HEADER + ".npy" and info.file_size > MAX_HEADER_BYTES:
                raise ValueError(f"the header has {info.file_size} bytes, above {MAX_HEADER_BYTES}")
            with archive.open(info) as member:
                read_header = _NPY_HEADERS.get(np.lib.format.read_magic(member))
                if read_header is None:
                    raise ValueError(f"member {info.filename!r} is not a NumPy array file")
                shape, _, dtype = read_header(member)
                if dtype.hasobject:
                    raise ValueError(f"member {info.filename!r} holds Python objects")
                size = dtype.itemsize * math.prod(shape)
                if member.tell() + size != info.file_size:
                    raise ValueError(
                        f"member {info.filename!r} declares {shape} of {dtype} but holds "
                        f"{info.file_size - member.tell()} bytes"
                    )
    f.seek(0)


def _read(path):
    """The header dict and the arrays of a model file, every check passed."""
    # Our own handle, so that a file numpy cannot parse is still closed.
    with open(path, "rb") as f:
        try:
            _check_members(f)
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
    # RecursionError: JSON nested deeper than Python's parser goes
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{path}: the model header is damaged: {err}") from err
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not an rnnkit model file")
    version = header.get("format_version")
    if isinstance(version, int) and version < FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format version {version}, written by an older rnnkit; this "
            f"one reads version {FORMAT_VERSION}: fit the model again and save it"
        )
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
    if not isinstance(header.get("class"), str) or header["class"] not in CLASSES:
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
        return _class(header["class"]).from_state(header["state"], arrays)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"{path}: the model header is incomplete or invalid: {err!r}") from err
