"""Progress bars: tqdm on stderr when it is installed, else nothing (the callers print a
line per step instead)."""

import sys
import warnings


def bar(total, desc, unit):
    """A tqdm bar of ``total`` ``unit`` on stderr, or None without tqdm."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    # tqdm may warn (its monitor thread, odd terminals); warnings are not progress.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True)
