"""scikit-learn's estimator conventions, without scikit-learn.

A class that derives from :class:`Estimator` stores its constructor's arguments
unchanged under their own names and checks them in ``fit``; its parameters are
found from the constructor's signature (as ``sklearn.base.BaseEstimator`` finds
them, never from a hand-kept list), so ``get_params``, ``set_params``,
``__repr__`` and ``sklearn.base.clone`` work without scikit-learn installed.
"""

import inspect
from functools import cache


def defaults(function):
    """The default value of every parameter of ``function`` that has one, by name.

    How a default is written once: a class whose constructor forwards arguments to
    ``function`` takes their defaults from here instead of copying them.
    """
    return {
        name: p.default
        for name, p in inspect.signature(function).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _same(value, default):
    """Whether a parameter still holds its default (for ``__repr__``), arrays included."""
    if value is default:
        return True
    if type(value) is not type(default):
        return False
    try:
        return bool(value == default)
    except (TypeError, ValueError):  # arrays compare elementwise
        return False


class Estimator:
    """Parameters from the constructor's signature: ``get_params``, ``set_params``, a repr."""

    @classmethod
    @cache
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        names = []
        for name, p in signature.parameters.items():
            if name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(
                    f"{cls.__name__}.__init__ takes *args or **kwargs; an estimator's "
                    "parameters must be named in its signature"
                )
            names.append(name)
        return tuple(names)

    def get_params(self, deep=True):
        """The constructor's arguments by name, as stored.

        Parameters
        ----------
        deep : bool
            Also list the parameters of parameters that are estimators themselves,
            as ``name__parameter``.
        """
        params = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            params[name] = value
        return params

    def set_params(self, **params):
        """Set parameters by name (``name__parameter`` for a nested one) and return self.

        Values are stored as given and checked by the next ``fit``.

        Raises
        ------
        ValueError
            For a name that is not a parameter, listing the valid ones.
        """
        valid = self._param_names()
        nested = {}
        for key, value in params.items():
            name, nests, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"{key!r} is not a parameter of {type(self).__name__}; valid parameters "
                    f"are {sorted(valid)}"
                )
            if nests:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub in nested.items():
            inner = getattr(self, name)
            if not hasattr(inner, "set_params"):
                raise ValueError(
                    f"{name} of {type(self).__name__} is {inner!r}, not an estimator: "
                    f"{name}__{next(iter(sub))} cannot be set"
                )
            inner.set_params(**sub)
        return self

    def __repr__(self):
        signature = inspect.signature(type(self).__init__).parameters
        changed = {
            name: value
            for name, value in self.get_params(deep=False).items()
            if not _same(value, signature[name].default)
        }
        args = ", ".join(f"{name}={value!r}" for name, value in changed.items())
        return f"{type(self).__name__}({args})"
