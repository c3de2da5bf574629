"""A reduced study, run once per session and shared by the study and report tests."""

from __future__ import annotations

import pytest

import nngraph as ng

#: Options of the reduced study: every stage runs, on both graphs, in seconds.
SMALL = {
    "k": 4,
    "n_shuffles": 3,
    "n_random": 9,
    "n_null_partitions": 3,
    "steps": 8,
}


@pytest.fixture(scope="session")
def small_study(session_cache_dir):
    """Run the reduced study on the bundled default network (both graphs, every proxy)."""
    with pytest.MonkeyPatch.context() as mp:  # the autouse cache fixture is per test
        mp.setenv("NNGRAPH_CACHE_DIR", str(session_cache_dir))
        return ng.study(**SMALL)
