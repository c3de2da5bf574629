"""Lazy re-exports (PEP 562) for package ``__init__`` modules.

A package that re-exports names from heavy modules (torch, numba, scikit-learn) loads
each module only when one of its names is first used, so importing the package, or a
light module beside them, stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, loading ``exports`` on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to str
        Public name -> the module (relative to ``package``, e.g. ``"._tracing"``, or a
        subpackage such as ``".graphs"``) that defines it. A name mapped to ``""``
        is the submodule of that name itself.
    namespace : dict
        The package's ``globals()``: a loaded name is stored there, so later lookups
        do not go through ``__getattr__``.

    Returns
    -------
    (__getattr__, __dir__)
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        where = exports[name]
        if where == "":
            value = importlib.import_module(f".{name}", package)
        else:
            value = getattr(importlib.import_module(where, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
