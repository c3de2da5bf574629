"""user_stacklevel: the first frame outside nngraph, found by module name."""

from __future__ import annotations

import warnings

from nngraph.utils._warnings import user_stacklevel


def _define(module: str, source: str, **names):
    namespace = {"__name__": module, **names}
    exec(source, namespace)
    return namespace


def test_frames_count_as_nngraphs_by_module_name_not_path():
    # Two frames of "nngraph" modules (whatever their file names), then this test.
    inner = _define(
        "nngraph.proxies.fake",
        "def inner():\n    return user_stacklevel()",
        user_stacklevel=user_stacklevel,
    )["inner"]
    outer = _define("nngraph", "def outer():\n    return inner()", inner=inner)["outer"]
    assert outer() == 3
    # A module merely named like it is not nngraph.
    other = _define("nngraph_extras", "def f():\n    return inner()", inner=inner)["f"]
    assert other() == 2


def test_the_warning_names_the_callers_line():
    warn = _define(
        "nngraph.fake",
        "def warn():\n    warnings.warn('x', UserWarning, stacklevel=user_stacklevel())",
        warnings=warnings,
        user_stacklevel=user_stacklevel,
    )["warn"]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        warn()
    assert record[0].filename == __file__
