"""Argument checks shared by the Python modules, so every one words its errors alike."""

import numbers

import numpy as np


def is_int(value):
    """True for Python and NumPy integers, False for bool (a flag is not a count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name, value, minimum=1):
    """``value`` as an int >= minimum; TypeError for a non-integer, ValueError below minimum."""
    if not is_int(value):
        raise TypeError(f"{name} must be an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


def finite_array(value, name):
    """``value`` as a float64 array; TypeError if it is not numeric, ValueError on NaN or inf."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{name} must be an array of numbers, got {type(value).__name__}: {err}"
        ) from err
    if not np.isfinite(array).all():
        bad = int(array.size - np.isfinite(array).sum())
        raise ValueError(
            f"{name} must be finite, got {bad} NaN or inf value(s) in an array of shape "
            f"{array.shape}"
        )
    return array
