"""Lazy package exports (nngraph.utils._lazy): load on first use, cache, list, fail clearly."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from itertools import count

import pytest

import nngraph
import nngraph.utils
from nngraph.utils import lazy_exports, type_checking_exports

_NAMES = count()

_INIT = """\
from typing import TYPE_CHECKING

from nngraph.utils import lazy_exports, type_checking_exports

__all__ = ["VALUE", "helper", "sub"]

__getattr__, __dir__ = lazy_exports(__name__, type_checking_exports(__file__), globals())

if TYPE_CHECKING:
    from . import sub as sub
    from ._heavy import VALUE, helper
"""


@pytest.fixture
def package(tmp_path, monkeypatch):
    """Give a fresh package that re-exports ``VALUE`` and ``helper`` from ``_heavy`` lazily."""
    name = f"lazy_pkg_{next(_NAMES)}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text(_INIT)
    (root / "_heavy.py").write_text("VALUE = object()\n\ndef helper():\n    return 42\n")
    (root / "sub.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


def test_names_load_on_first_use(package):
    pkg = importlib.import_module(package)
    assert f"{package}._heavy" not in sys.modules
    assert pkg.helper() == 42
    assert f"{package}._heavy" in sys.modules
    assert pkg.VALUE is sys.modules[f"{package}._heavy"].VALUE


def test_a_submodule_loads_on_first_use(package):
    pkg = importlib.import_module(package)
    assert f"{package}.sub" not in sys.modules
    assert pkg.sub.X == 1 and pkg.sub is sys.modules[f"{package}.sub"]


def test_a_loaded_name_is_cached_in_the_package(package):
    pkg = importlib.import_module(package)
    first = pkg.VALUE
    assert vars(pkg)["VALUE"] is first  # stored: later lookups skip __getattr__
    del sys.modules[f"{package}._heavy"]
    assert pkg.VALUE is first  # not imported again
    assert f"{package}._heavy" not in sys.modules


def test_dir_lists_loaded_and_lazy_names(package):
    pkg = importlib.import_module(package)
    names = dir(pkg)
    assert {"VALUE", "helper", "sub", "__all__"} <= set(names)
    assert names == sorted(names)
    assert f"{package}._heavy" not in sys.modules  # listing loads nothing


def test_an_unknown_name_raises_attribute_error_naming_the_module(package):
    pkg = importlib.import_module(package)
    with pytest.raises(AttributeError, match=rf"module '{package}' has no attribute 'nope'"):
        _ = pkg.nope
    assert not hasattr(pkg, "_heavy_thing")


def test_lazy_exports_with_a_plain_mapping():
    namespace: dict = {}
    getattr_, dir_ = lazy_exports("nngraph.utils", {"check_int": "._validation"}, namespace)
    assert getattr_("check_int") is nngraph.utils._validation.check_int
    assert namespace == {"check_int": nngraph.utils._validation.check_int}
    assert dir_() == ["check_int"]
    with pytest.raises(AttributeError, match="module 'nngraph.utils' has no attribute 'x'"):
        getattr_("x")


def test_type_checking_exports_reads_the_block(tmp_path):
    path = tmp_path / "__init__.py"
    path.write_text(_INIT)
    assert type_checking_exports(path) == {"sub": "", "VALUE": "._heavy", "helper": "._heavy"}


@pytest.mark.parametrize(
    "statement",
    [
        "from nngraph.utils import check_int",
        "from ._heavy import *",
        "from ._heavy import helper as other",
        "from .. import nngraph",
        "import os",
        "X = 1",
    ],
)
def test_type_checking_exports_refuses_what_it_could_not_load(tmp_path, statement):
    path = tmp_path / "__init__.py"
    path.write_text(
        textwrap.dedent(
            f"""\
            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                from ._heavy import VALUE
                {statement}
            """
        )
    )
    with pytest.raises(ValueError, match="line 5: the TYPE_CHECKING block may only hold"):
        type_checking_exports(path)


@pytest.mark.parametrize("package", [nngraph, nngraph.utils], ids=lambda p: p.__name__)
def test_every_public_name_of_a_lazy_package_loads(package):
    exports = type_checking_exports(package.__file__)
    assert exports  # the block was read
    assert set(package.__all__) <= set(dir(package))
    for name in package.__all__:
        assert getattr(package, name) is not None, name


def test_nngraph_utils_loads_numpy_only_when_a_name_needs_it():
    code = (
        "import sys, nngraph.utils as u\n"
        "assert 'numpy' not in sys.modules\n"
        "u.atomic_write\n"
        "assert 'numpy' not in sys.modules\n"
        "u.check_int\n"
        "assert 'numpy' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
