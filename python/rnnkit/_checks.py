"""Argument checks for every Python module, so that each one words its errors alike.

Every check takes the argument's name first and raises an error naming it, what was
expected and what came: TypeError for a value of the wrong kind, ValueError for one of
the right kind out of range. Each returns the value in the form the caller keeps.
"""

import itertools
import math
import numbers

import numpy as np

DTYPES = ("float32", "float64")


def is_int(value):
    """True for Python and NumPy integers, False for bool (a flag is not a count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value):
    """True for real numbers (Python's and NumPy's), False for bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _alternatives(choices):
    """('a',) -> "'a'"; ('a', 'b') -> "'a' or 'b'"; ('a', 'b', 'c') -> "'a', 'b' or 'c'"."""
    quoted = [repr(c) for c in choices]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def check_int(name, value, minimum=1):
    """``value`` as an int >= minimum; TypeError for a non-integer, ValueError below minimum."""
    if not is_int(value):
        raise TypeError(f"{name} must be an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


def check_number(name, value, low=0.0, high=math.inf, high_open=False):
    """``value`` as a float in [low, high] (or [low, high) with high_open), else ValueError."""
    ok = is_real(value)
    if ok:
        ok = low <= value < high if high_open else low <= value <= high
    if not ok:
        bracket = ")" if high_open else "]"
        raise ValueError(f"{name} must be a number in [{low}, {high}{bracket}, got {value!r}")
    return float(value)


def check_real(name, value):
    """``value`` as a finite float: TypeError if it is not a real number (a bool is not),
    ValueError if it is NaN or infinite."""
    if not is_real(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def check_probability(name, value):
    """``value`` as a float in [0, 1): a dropout rate, say; else ValueError."""
    if not is_real(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")
    return float(value)


def check_fraction(name, value):
    """``value`` as a float in [0, 1): the share of a series in a block; else ValueError."""
    if not is_real(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}")
    return float(value)


def check_level(name, value):
    """``value`` as a float strictly inside (0, 1): an interval's coverage, say; else
    ValueError (0 and 1 are no interval: an empty one and an endless one)."""
    if not is_real(value) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a level strictly between 0 and 1, got {value!r}")
    return float(value)


def check_quantiles(name, value):
    """``value`` as a tuple of floats strictly inside (0, 1), strictly increasing, with
    0.5 among them (a quantile model's point forecast is its median); else an error."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple | np.ndarray):
        raise TypeError(
            f"{name} must be a list of levels in (0, 1), e.g. [0.05, 0.5, 0.95], "
            f"got {type(value).__name__} {value!r}"
        )
    levels = [check_level(f"every level of {name}", q) for q in value]
    if any(b <= a for a, b in itertools.pairwise(levels)):
        raise ValueError(f"{name} must be increasing, without repeats, got {list(value)!r}")
    if 0.5 not in levels:
        raise ValueError(
            f"{name} must include 0.5, the median, which is the point forecast; got {list(value)!r}"
        )
    return tuple(levels)


def check_choice(name, value, choices):
    """``value`` if it is one of ``choices`` (strings compared exactly), else ValueError."""
    if not (isinstance(value, str) and value in choices):
        raise ValueError(f"{name} must be {_alternatives(choices)}, got {value!r}")
    return value


def check_bool(name, value):
    """``value`` as a bool, if it is True or False (NumPy's included); else TypeError."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_dtype(name, value):
    """``value`` as a NumPy dtype, float32 or float64; else TypeError."""
    try:
        dtype = np.dtype(value)
    except TypeError as err:
        raise TypeError(f"{name} must be float32 or float64, got {value!r}") from err
    if dtype.name not in DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dtype.name}")
    return dtype


def float_array(name, value, dtype=np.float64):
    """``value`` as an array of ``dtype`` (no copy when it is one already); TypeError if it
    does not hold numbers. A pandas object's missing values become NaN."""
    try:
        if hasattr(value, "iloc"):  # pandas, duck-typed so that NumPy input never imports it
            return value.to_numpy(dtype=dtype, na_value=np.nan)
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{name} must be an array of numbers (convertible to {np.dtype(dtype).name}), got "
            f"{type(value).__name__}: {err}"
        ) from None


def finite_array(name, value):
    """``value`` as a float64 array; TypeError if it is not numeric, ValueError on NaN or inf."""
    array = float_array(name, value)
    if not np.isfinite(array).all():
        bad = int(array.size - np.isfinite(array).sum())
        raise ValueError(
            f"{name} must be finite, got {bad} NaN or inf value(s) in an array of shape "
            f"{array.shape}"
        )
    return array


def check_positive(name, value):
    """``value`` as a finite float > 0 (a learning rate, a clipping norm): TypeError if it is
    not a real number (a bool is not), ValueError if it is <= 0, NaN or infinite."""
    if not is_real(value):
        raise TypeError(f"{name} must be a positive finite number, got {value!r}")
    if not 0.0 < value < math.inf:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_seed(name, value):
    """``value`` as None or an int >= 0, a seed both ``numpy.random.default_rng`` and
    ``SeedSequence`` take (both refuse a negative one); TypeError for another kind, ValueError
    below 0."""
    if value is None:
        return None
    if not is_int(value):
        raise TypeError(f"{name} must be None or an int >= 0, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be None or an int >= 0, got {value}")
    return int(value)
