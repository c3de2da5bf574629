"""Shared fixtures: a seeded generator (never global seeding) and small networks."""

from __future__ import annotations

import os

# Before torch loads OpenMP (see nngraph/__init__.py): idle threads sleep, not spin.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """Give each test a fresh, seeded generator."""
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def session_cache_dir(tmp_path_factory):
    """One checkpoint cache for the whole session: each bundled model trains once."""
    return tmp_path_factory.mktemp("nngraph-cache")


@pytest.fixture(autouse=True)
def _cache_outside_home(session_cache_dir, monkeypatch):
    """No test writes to ~/.cache: the default checkpoint cache is the session's."""
    monkeypatch.setenv("NNGRAPH_CACHE_DIR", str(session_cache_dir))


@pytest.fixture(scope="session")
def community_kernels():
    """Compile (or load from numba's cache) the community detectors' kernels once.

    Louvain's and label propagation's, and the prepared graph's (components, used by
    ``n_clusters``).
    """
    from nngraph.partition import _prepared_kernels
    from nngraph.partition._label_propagation import LabelPropagation
    from nngraph.partition._louvain import Louvain

    blocks = np.kron(np.eye(2), np.ones((3, 3))) + 0.01
    Louvain(random_state=0).fit(blocks)
    LabelPropagation(random_state=0).fit(blocks)
    _prepared_kernels.warm_up()


def _reference_modularity(adjacency, labels, resolution=1.0) -> float:
    """Slow, dense modularity: (1/2m) sum_ij [A_ij - gamma k_i k_j / 2m] [c_i == c_j].

    Units labelled -1 are dropped; a self-loop A_ii counts once in k_i and in 2m.
    """
    import scipy.sparse as sp

    a = adjacency.toarray() if sp.issparse(adjacency) else np.asarray(adjacency, dtype=float)
    labels = np.asarray(labels)
    keep = labels >= 0
    a, labels = a[np.ix_(keep, keep)], labels[keep]
    k = a.sum(axis=1)
    two_m = a.sum()
    same = labels[:, None] == labels[None, :]
    return float(((a - resolution * np.outer(k, k) / two_m) * same).sum() / two_m)


@pytest.fixture
def reference_modularity():
    """Provide the slow, dense modularity oracle (a function)."""
    return _reference_modularity


@pytest.fixture(scope="session")
def spectral_kernels():
    """Compile (or load from numba's cache) every spectral/metrics kernel once.

    (:func:`nngraph.partition._spectral_kernels.warm_up`, the prepared graph's included.)

    Used by the spectral, metrics and partition tests, so compile time is not spread
    over (and mistaken for) the first test that happens to call a kernel.
    """
    from nngraph.partition._spectral_kernels import warm_up

    warm_up()
