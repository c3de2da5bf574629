"""Lazy re-exports (PEP 562) for package ``__init__`` modules.

A package that re-exports names from heavy modules (torch, numba, scikit-learn) loads
each module only when one of its names is first used, so importing the package, or a
light module beside them, stays cheap.

A package lists its names once, as the imports of an ``if TYPE_CHECKING:`` block (what
type checkers and IDEs read); :func:`type_checking_exports` reads that block from the
package's source, so the same imports tell :func:`lazy_exports` where each name lives
at run time (as scientific-python's ``lazy_loader.attach_stub`` reads a ``.pyi`` stub).
The package's ``__all__`` stays a literal list, which ruff and ``import *`` read.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports", "type_checking_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Make ``__getattr__`` and ``__dir__`` for ``package``, loading ``exports`` on first use.

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
        The two module-level functions of PEP 562.

    Examples
    --------
    >>> namespace = {}
    >>> getattr_, dir_ = lazy_exports("nngraph.utils", {"check_int": "._validation"}, namespace)
    >>> getattr_("check_int")("k", 3, 1)
    3
    >>> "check_int" in namespace, dir_()
    (True, ['check_int'])
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


def type_checking_exports(path: str | os.PathLike[str]) -> dict[str, str]:
    """Map each name imported under ``if TYPE_CHECKING:`` in ``path`` to its module.

    ``from ._io import a, b`` maps ``a`` and ``b`` to ``"._io"``; ``from . import graphs``
    maps ``graphs`` to ``""``, the submodule itself: the mapping :func:`lazy_exports`
    takes.

    Parameters
    ----------
    path : str or path-like
        The package's ``__init__.py`` (its ``__file__``).

    Returns
    -------
    dict of str to str
        Name -> module, in the order of the imports.

    Raises
    ------
    ValueError
        Anything in the block but ``from .module import name`` (no other statement, no
        absolute or star import, no renaming), so that the block and the names loaded
        at run time cannot differ.

    Examples
    --------
    >>> import nngraph.utils
    >>> type_checking_exports(nngraph.utils.__file__)["check_int"]
    '._validation'
    """
    import ast  # only when a package is first imported

    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), filename=os.fspath(path))
    exports: dict[str, str] = {}
    for node in tree.body:
        if not (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
        ):
            continue
        for statement in node.body:
            if (
                not isinstance(statement, ast.ImportFrom)
                or statement.level != 1
                or any(a.name == "*" or a.asname not in (None, a.name) for a in statement.names)
            ):
                raise ValueError(
                    f"{path}, line {statement.lineno}: the TYPE_CHECKING block may only "
                    "hold imports of names from the package's own modules ('from .mod "
                    "import name')"
                )
            module = f".{statement.module}" if statement.module else ""
            for alias in statement.names:
                exports[alias.name] = module
    return exports
