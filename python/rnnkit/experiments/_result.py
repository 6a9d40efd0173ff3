"""What every experiment returns: its numbers, its picture and the sentence that explains it."""

from dataclasses import dataclass, field


def frame(rows):
    """A pandas DataFrame of ``rows`` (dicts), or a clear ImportError without pandas."""
    try:
        import pandas as pd
    except ImportError as err:
        raise ImportError(
            "the experiments' tables need pandas: pip install 'rnnkit[pandas]'"
        ) from err
    return pd.DataFrame(rows)


@dataclass
class Result:
    """One experiment's outcome, ready for a notebook or the report of ``rnnkit experiments``.

    Attributes
    ----------
    name : str
        Short identifier, used for file names (``"memory_span"``).
    title : str
        The claim under test, as a heading.
    table : pandas.DataFrame
        The measured numbers, one row per setting.
    figure : matplotlib.figure.Figure or None
        The picture (built without pyplot); None when plotting was not asked for.
    caption : str
        What the picture shows and what it means, readable without the text around it.
    numbers : dict of str to float
        The headline numbers the caption quotes (for tests and the closing summary).
    artifacts : dict
        What a later experiment may reuse instead of computing it again (trained
        models, the inputs they were shown); not part of the report.
    """

    name: str
    title: str
    table: object
    figure: object = None
    caption: str = ""
    numbers: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict, repr=False)

    def __repr__(self):
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.numbers.items())
        return f"Result({self.name!r}, {shown})"
