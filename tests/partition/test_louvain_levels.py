"""Louvain where it works hard, against igraph and the planted blocks.

Sparse planted partitions that need several levels, and a weight graph at the
resolution that gives 12 clusters.
"""

from __future__ import annotations

import random

import igraph
import numpy as np
import pytest
import scipy.sparse as sp
import torch

import nngraph as ng
from nngraph.partition._louvain import Louvain
from nngraph.partition._metrics import compare_partitions, modularity
from nngraph.partition._resolution import resolution_for_k

pytestmark = pytest.mark.usefixtures("community_kernels")


def sparse_planted(rng, n_blocks, size, deg_in, deg_out):
    """Planted partition with ``deg_in`` expected neighbours inside a block, ``deg_out`` out.

    Pairs drawn with replacement (a repeated pair sums its weights), weights in [0.5, 1.5].
    """
    n = n_blocks * size
    m_in, m_out = n * deg_in // 2, n * deg_out // 2
    first, second = rng.integers(0, size, m_in), rng.integers(0, size - 1, m_in)
    offset = rng.integers(0, n_blocks, m_in) * size
    src = np.concatenate([offset + first, rng.integers(0, n, m_out)])
    dst = np.concatenate([offset + second + (second >= first), rng.integers(0, n, m_out)])
    keep = src != dst
    weights = rng.uniform(0.5, 1.5, keep.sum())
    a = sp.csr_array((weights, (src[keep], dst[keep])), shape=(n, n))
    return sp.csr_array(a + a.T), np.repeat(np.arange(n_blocks), size)


@pytest.fixture(scope="module")
def many_levels():
    """20,000 nodes in 100 blocks, mean degree 10: the first level leaves ~170 pieces."""
    return sparse_planted(np.random.default_rng(12345), 100, 200, 7, 3)


def igraph_modularities(graph, seeds, resolution=1.0):
    ig = graph.to_igraph()
    out = []
    for seed in seeds:
        igraph.set_random_number_generator(random.Random(seed))
        try:
            result = ig.community_multilevel(weights="weight", resolution=resolution)
        finally:
            igraph.set_random_number_generator(random)
        out.append(modularity(graph, np.asarray(result.membership), resolution=resolution))
    return out


def test_sparse_planted_needs_levels_and_is_recovered(many_levels):
    a, truth = many_levels
    fits = [Louvain(random_state=s, return_levels=True).fit(a) for s in range(4)]
    assert all(f.n_levels_ >= 2 for f in fits)
    first_level = [np.unique(f.levels_[0]).size for f in fits]
    assert min(first_level) > 1.5 * (truth.max() + 1)  # the first level alone is not done
    aris = [compare_partitions(truth, f.labels_, method="ari") for f in fits]
    assert min(aris) >= 0.9, aris


def test_sparse_planted_modularity_close_to_igraph(many_levels):
    a, _ = many_levels
    graph = ng.NeuronGraph(a, ["nodes"], np.zeros(a.shape[0]), np.arange(a.shape[0]))
    ours = np.mean([Louvain(random_state=s).fit(graph).modularity_ for s in range(8)])
    theirs = np.mean(igraph_modularities(graph, range(8)))
    assert ours >= theirs - 0.005 * abs(theirs), (ours, theirs)


def test_many_levels_reproducible(many_levels):
    a, _ = many_levels
    first = Louvain(random_state=3, return_levels=True).fit(a)
    again = Louvain(random_state=3, return_levels=True).fit(a)
    assert first.n_levels_ == again.n_levels_
    for x, y in zip(first.levels_, again.levels_, strict=True):
        np.testing.assert_array_equal(x, y)
    other = Louvain(random_state=4).fit(a)
    assert not np.array_equal(first.labels_, other.labels_)


def test_weight_graph_at_k12_close_to_igraph():
    from nngraph.models import mlp

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = mlp()
    graph = ng.weight_graph(model, torch.zeros(1, 64))
    res = resolution_for_k(graph, 12, Louvain(random_state=0))
    assert res.n_clusters == 12 and res.resolution > 1.0
    ours = [
        Louvain(resolution=res.resolution, random_state=s).fit(graph).modularity_ for s in range(8)
    ]
    theirs = igraph_modularities(graph, range(8), res.resolution)
    assert np.mean(ours) >= np.mean(theirs) - 0.005 * abs(np.mean(theirs))
