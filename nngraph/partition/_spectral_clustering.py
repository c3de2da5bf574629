"""Normalised-cut spectral clustering of a graph of units.

The partition of ``docs/method.md``, section 2.1. Three layers, as everywhere in nngraph:
numba kernels (:mod:`._spectral_kernels`); the maths
(:func:`~._spectral_embedding.spectral_embedding`'s steps, then :func:`assign_clusters`);
the thin estimator :class:`SpectralClustering`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from ..utils._validation import canonical_labels, check_int
from ._base import n_clusters_of
from ._kmeans import kmeans
from ._spectral_embedding import (
    DENSE_THRESHOLD,
    EigengapResult,
    Spectrum,
    check_and_prepare,
    embedding_from,
    leading_eigenpairs,
)

__all__ = ["SpectralClustering", "assign_clusters"]


def assign_clusters(
    spec: Spectrum,
    k: int,
    *,
    n_init: int,
    max_iter: int,
    rng: np.random.Generator,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray, float]:
    """``k`` clusters from the leading eigenpairs: k-means on the embedding.

    When the graph has at least ``k`` connected components, whole components are an
    n-cut of 0: the ``k - 1`` largest (by volume) each form a cluster and the rest
    share the last one, without k-means.

    Parameters
    ----------
    spec : Spectrum
        At least ``k`` leading eigenpairs of ``D^-1/2 A D^-1/2``.
    k : int
        Number of clusters.
    n_init : int
        k-means restarts (:func:`~._kmeans.kmeans`, all in one batched computation).
    max_iter : int
        Lloyd iterations per k-means run.
    rng : numpy.random.Generator
        One k-means seed is drawn from it (always, so it advances the same way).
    workers : int, default=1
        Threads sharing the restarts (the result does not depend on it).

    Returns
    -------
    labels : ndarray of int64, shape (n_nodes,)
        Clusters as k-means numbers them (not yet canonical); -1 for isolated units.
    embedding : ndarray, shape (n_nodes, k)
        The embedding the clusters were found in.
    inertia : float
        k-means inertia of the best restart (0 for whole components).

    Examples
    --------
    >>> import numpy as np
    >>> from nngraph.datasets import two_cliques
    >>> from nngraph.partition._prepared import PreparedGraph
    >>> from nngraph.partition._spectral_embedding import SolverOptions, leading_eigenpairs
    >>> prep = PreparedGraph.from_graph(two_cliques(4)[0])
    >>> options = SolverOptions("dense", 1e-8, None, 500, "auto")
    >>> rng = np.random.default_rng(0)
    >>> spec = leading_eigenpairs(prep, 2, options, rng)
    >>> assign_clusters(spec, 2, n_init=5, max_iter=100, rng=rng)[0]
    array([1, 1, 1, 1, 0, 0, 0, 0])
    """
    prep = spec.prep
    kmeans_seed = int(rng.integers(0, 2**31 - 1))
    labels = np.full(prep.n_nodes, -1, dtype=np.int64)
    if prep.n_components >= k:
        group = np.minimum(prep.component[prep.kept], k - 1)
        vol = np.bincount(group, weights=prep.degree[prep.kept], minlength=k)
        emb = np.zeros((prep.n_nodes, k))
        emb[prep.kept, group] = 1.0 / np.sqrt(vol[group])
        labels[prep.kept] = group
        return labels, emb, 0.0
    emb = embedding_from(spec, k)
    result = kmeans(
        emb[prep.kept],
        k,
        n_init=n_init,
        max_iter=max_iter,
        rng=np.random.default_rng(kmeans_seed),
        workers=workers,
    )
    labels[prep.kept] = result.labels
    return labels, emb, result.inertia


class SpectralClustering(ClusterMixin, BaseEstimator):
    """Normalised-cut spectral clustering of a graph of units.

    The partition of ``docs/method.md``, section 2.1: the embedding of
    :func:`spectral_embedding` (``n_clusters`` eigenvectors of ``D^-1/2 A D^-1/2``,
    divided by ``sqrt(deg)``, deterministic signs) followed by k-means with many
    restarts (scikit-learn's :class:`~sklearn.cluster.KMeans` maths, all restarts in one
    batched computation: :func:`~nngraph.partition._kmeans.kmeans`). Isolated units
    (degree 0) get label -1. Clusters are numbered in order of their first unit.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters ``k`` (>= 2, at most the number of units with an edge).
    random_state : None, int, numpy Generator or RandomState
        Seeds the eigensolver's start vector and k-means. Stored as given; turned into a
        generator in :meth:`fit`.
    n_init : int, optional
        k-means restarts. Default: 25, or 100 above 2,000 clusterable units (as in [3]_).
    eigen_solver : {"auto", "dense", "block", "arpack", "lobpcg"}, default="auto"
        See :func:`spectral_embedding`.
    eigen_tol : float or "auto", default="auto"
        See :func:`spectral_embedding`.
    eigen_maxiter : int, optional
        See :func:`spectral_embedding`.
    dense_threshold : int, default=500
        See :func:`spectral_embedding`.
    operator : {"auto", "blocks", "csr", "dense"}, default="auto"
        See :func:`spectral_embedding`.
    block_dtype : {"float64", "float32"}, default="float64"
        See :func:`spectral_embedding`.
    kmeans_max_iter : int, default=300
        Lloyd iterations per k-means run.
    n_threads : int, optional
        Threads for BLAS, OpenMP and the numba kernels during :meth:`fit`. Default:
        BLAS and OpenMP on one thread for graphs of at most 20,000 clusterable units,
        else the libraries' defaults; the numba kernels serial, except that the k-means
        restarts and the dense-block products are shared among nngraph's worker
        threads (one per core; the result does not depend on their number).
        ``n_threads > 1`` runs numba's parallel kernels, which make later fork-based
        process pools unsafe (use a ``"spawn"`` context). See
        :func:`spectral_embedding`.

    Attributes
    ----------
    labels_ : ndarray of int64, shape (n_nodes,)
        Cluster of every unit; -1 for isolated units.
    n_clusters_ : int
        Clusters found (``n_clusters``, or fewer when k-means leaves one empty), as the
        other partitioners report it.
    embedding_ : ndarray, shape (n_nodes, n_clusters)
        The spectral embedding (rows of isolated units are 0).
    eigenvalues_ : ndarray, shape (n_clusters + 1,)
        Leading eigenvalues of ``D^-1/2 A D^-1/2``, descending (one more than the
        embedding uses, for the eigengap; fewer if the graph is tiny).
    eigengap_ : EigengapResult
        Gaps between consecutive eigenvalues and the suggested ``k``.
    suggested_k_ : int
        ``eigengap_.suggested_k``.
    eigen_residuals_ : ndarray
        ``||N v - lambda v||`` of each eigenvector.
    eigen_solver_ : str
        The solver that produced the eigenvectors (after any fallback).
    eigen_problem_ : str
        The operator the solver worked on: ``"N (...)"`` (the normalised adjacency) or
        ``"B B^T (...)"`` (the bipartite reduction), applied as ``"blocks"``, ``"csr"``
        or ``"dense"``.
    n_matvec_ : int
        Number of operator-vector products of the eigen-solve.
    n_connected_components_ : int
        Connected components, isolated units not counted.
    inertia_ : float
        k-means inertia of the best restart.
    n_init_ : int
        The number of k-means restarts used.

    References
    ----------
    .. [1] J. Shi and J. Malik, "Normalized cuts and image segmentation", IEEE Transactions
       on Pattern Analysis and Machine Intelligence 22(8), 2000.
    .. [2] U. von Luxburg, "A tutorial on spectral clustering", Statistics and Computing
       17(4), 2007.
    .. [3] D. Filan, S. Casper, S. Hod, C. Wild, A. Critch and S. Russell, "Clusterability
       in neural networks", arXiv:2103.03386, 2021.

    Examples
    --------
    >>> from nngraph.datasets import layered_graph
    >>> graph, modules = layered_graph()     # 4 planted modules across 4 layers
    >>> model = SpectralClustering(4, random_state=0).fit(graph)
    >>> model.labels_[:12]
    array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    >>> model.eigen_problem_, model.suggested_k_
    ('B B^T (dense)', 4)
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        random_state: Any = None,
        n_init: int | None = None,
        eigen_solver: str = "auto",
        eigen_tol: float | str = "auto",
        eigen_maxiter: int | None = None,
        dense_threshold: int = DENSE_THRESHOLD,
        operator: str = "auto",
        block_dtype: str = "float64",
        kmeans_max_iter: int = 300,
        n_threads: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.n_init = n_init
        self.eigen_solver = eigen_solver
        self.eigen_tol = eigen_tol
        self.eigen_maxiter = eigen_maxiter
        self.dense_threshold = dense_threshold
        self.operator = operator
        self.block_dtype = block_dtype
        self.kmeans_max_iter = kmeans_max_iter
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any = None) -> SpectralClustering:
        """Cluster the units of a graph.

        Parameters
        ----------
        X : NeuronGraph, scipy sparse matrix or array, or array-like
            The graph (symmetric, non-negative weights).
        y : None
            Ignored.

        Returns
        -------
        self : SpectralClustering
        """
        k = check_int("n_clusters", self.n_clusters, 2)
        n_init = check_int("n_init", self.n_init, 1, allow_none=True)
        kmeans_max_iter = check_int("kmeans_max_iter", self.kmeans_max_iter, 1)
        prep, threads, rng, options = check_and_prepare(
            X,
            k,
            "n_clusters",
            eigen_solver=self.eigen_solver,
            eigen_tol=self.eigen_tol,
            eigen_maxiter=self.eigen_maxiter,
            dense_threshold=self.dense_threshold,
            operator=self.operator,
            n_threads=self.n_threads,
            random_state=self.random_state,
            stacklevel=3,
            block_dtype=self.block_dtype,
        )
        if n_init is None:
            n_init = 100 if prep.kept.size > 2000 else 25
        with threads.context:
            # One eigenpair more than the embedding uses, for the eigengap.
            n_eig = min(k + 1, prep.kept.size)
            spec = leading_eigenpairs(prep, n_eig, options, rng, threads, stacklevel=3)
            labels, emb, inertia = assign_clusters(
                spec, k, n_init=n_init, max_iter=kmeans_max_iter, rng=rng, workers=threads.workers
            )
        self.inertia_ = inertia
        self.labels_ = canonical_labels(labels)
        self.n_clusters_ = n_clusters_of(self.labels_)
        self.embedding_ = emb
        self.eigenvalues_ = spec.eigenvalues.copy()
        self.eigengap_ = EigengapResult.from_eigenvalues(spec.eigenvalues)
        self.suggested_k_ = self.eigengap_.suggested_k
        self.eigen_residuals_ = spec.residuals
        self.eigen_solver_ = spec.info.solver
        self.eigen_problem_ = spec.info.problem
        self.n_matvec_ = spec.info.n_matvec
        self.n_connected_components_ = prep.n_components
        self.n_init_ = n_init
        return self
