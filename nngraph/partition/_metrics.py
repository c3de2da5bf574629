"""Quality of a partition of a graph, and agreement between two partitions.

Conventions shared by every function here:

- ``labels`` is a 1-D array of integers, one per unit; ``-1`` means "not clustered"
  (e.g. an isolated unit). Other negative values are an error. Labels need not be
  contiguous.
- For :func:`ncut`, :func:`modularity` and :func:`conductance`, units labelled -1
  are **dropped together with their edges**: the metric is that of the partition of
  the subgraph induced by the labelled units. Degrees and volumes are taken in that
  subgraph.
- A self-loop ``A[i, i]`` counts once, as stored in the adjacency (igraph counts an
  undirected self-loop twice in the degree, so its modularity differs on graphs with
  self-loops; nngraph's graphs have none).
- The graph is any input :func:`~nngraph.graphs._canonical.check_adjacency` accepts
  (a :class:`~nngraph.NeuronGraph`, a scipy sparse matrix or array, a dense array).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from ..graphs._canonical import check_adjacency
from ..utils import _kernels as _k
from ..utils._sparse import kernel_csr_arrays
from ..utils._validation import check_labels

__all__ = ["ncut", "modularity", "conductance", "cluster_sizes", "compare_partitions"]


def _volumes(
    graph: Any, labels: Any, *, undefined: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per label (indexed by the sorted distinct labels >= 0): volume and internal weight.

    With ``undefined`` (a metric's name), raise ``ValueError`` naming it when the
    labelled units have no edges.
    """
    a = check_adjacency(graph)
    lab = check_labels(labels, a.shape[0])
    mask = lab >= 0
    uniq, inverse = np.unique(lab[mask], return_inverse=True)
    dense = np.full(lab.shape[0], -1, dtype=np.int64)
    dense[mask] = inverse
    volume, internal = _k.label_cut_volume(*kernel_csr_arrays(a), dense, uniq.size)
    if undefined is not None and not volume.sum() > 0:
        raise ValueError(f"{undefined} is undefined: there are no edges between labelled units")
    return volume, internal


def ncut(graph: Any, labels: Any) -> float:
    """Normalised cut of a partition: ``sum over clusters X of cut(X, rest) / vol(X)``.

    ``cut(X, rest)`` is the weight of the edges leaving ``X``; ``vol(X)`` the sum of the
    degrees in ``X``. Between 0 and the number of clusters; lower is more modular.
    Units labelled -1 are dropped with their edges. A cluster of volume 0 contributes 0.

    Parameters
    ----------
    graph : NeuronGraph, scipy sparse matrix or array, or array-like
        The graph (symmetric, non-negative weights).
    labels : array-like of int, shape (n_nodes,)
        Cluster of every unit; -1 for units left out.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Labels of the wrong length or type, or no edges between labelled units.

    References
    ----------
    .. [1] J. Shi and J. Malik, "Normalized cuts and image segmentation", IEEE Transactions
       on Pattern Analysis and Machine Intelligence 22(8), 2000.

    Examples
    --------
    >>> from nngraph.datasets import two_cliques
    >>> a, triangles = two_cliques(3)     # two triangles joined by an edge of weight 0.1
    >>> round(ncut(a, triangles), 6)      # cut 0.1, volumes 6.1 and 6.1: 2 * 0.1 / 6.1
    0.032787
    """
    volume, internal = _volumes(graph, labels, undefined="ncut")
    cut = volume - internal
    nz = volume > 0
    return float(np.sum(cut[nz] / volume[nz]))


def modularity(graph: Any, labels: Any, resolution: float = 1.0) -> float:
    """Weighted Newman modularity of a partition.

    ``Q = 1/(2m) sum_ij (A_ij - resolution * k_i k_j / (2m)) delta(c_i, c_j)``, with
    ``2m = sum_ij A_ij`` and ``k_i`` the weighted degree, i.e.
    ``Q = sum_c [ w_in(c) / 2m - resolution * (vol(c) / 2m)^2 ]``. Units labelled -1 are
    dropped with their edges. Without self-loops (the graphs nngraph builds have
    none) this is igraph's and networkx's modularity; a self-loop ``A_ii`` counts once
    in ``k_i`` and ``2m`` here (the adjacency matrix's row sum), twice in theirs.

    Parameters
    ----------
    graph : NeuronGraph, scipy sparse matrix or array, or array-like
        The graph (symmetric, non-negative weights).
    labels : array-like of int, shape (n_nodes,)
        Cluster of every unit; -1 for units left out.
    resolution : float, default=1.0
        The resolution parameter ``gamma`` (>= 0).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Labels of the wrong length or type, a negative resolution, or no edges between
        labelled units.

    References
    ----------
    .. [1] M. E. J. Newman, "Modularity and community structure in networks", Proceedings of
       the National Academy of Sciences 103(23), 2006.

    Examples
    --------
    >>> from nngraph.datasets import two_cliques
    >>> a, triangles = two_cliques(3)     # two triangles joined by an edge of weight 0.1
    >>> round(modularity(a, triangles), 6)    # 2 * 6 / 12.2 - 2 * (6.1 / 12.2)^2
    0.483607
    """
    if not np.isfinite(resolution) or resolution < 0:
        raise ValueError(f"resolution must be a finite number >= 0, got {resolution!r}")
    volume, internal = _volumes(graph, labels, undefined="modularity")
    two_m = volume.sum()
    return float(np.sum(internal / two_m - resolution * (volume / two_m) ** 2))


def conductance(graph: Any, labels: Any) -> np.ndarray:
    """Conductance of every cluster: ``cut(X, rest) / min(vol(X), vol(rest))``.

    Units labelled -1 are dropped with their edges. A cluster whose volume (or whose
    complement's volume) is 0 has conductance 0 (no edge leaves it).

    Parameters
    ----------
    graph : NeuronGraph, scipy sparse matrix or array, or array-like
        The graph (symmetric, non-negative weights).
    labels : array-like of int, shape (n_nodes,)
        Cluster of every unit; -1 for units left out.

    Returns
    -------
    ndarray of float, shape (n_clusters,)
        One value per distinct label >= 0, in increasing label order (the order of
        ``np.unique``); with labels ``0..k-1``, entry ``c`` is cluster ``c``.

    Examples
    --------
    >>> from nngraph.datasets import two_cliques
    >>> a, triangles = two_cliques(3)     # two triangles joined by an edge of weight 0.1
    >>> conductance(a, triangles).round(6)    # 0.1 / 6.1 each
    array([0.016393, 0.016393])
    """
    volume, internal = _volumes(graph, labels)
    cut = volume - internal
    denom = np.minimum(volume, volume.sum() - volume)
    out = np.zeros(volume.shape[0])
    np.divide(cut, denom, out=out, where=denom > 0)
    return out


def cluster_sizes(labels: Any) -> np.ndarray:
    """Count the units in every cluster (label -1 not counted).

    Parameters
    ----------
    labels : array-like of int, shape (n_nodes,)
        Cluster of every unit; -1 for units left out.

    Returns
    -------
    ndarray of int64, shape (n_clusters,)
        One count per distinct label >= 0, in increasing label order (as
        :func:`conductance`).

    Examples
    --------
    >>> cluster_sizes([0, 2, 2, -1, 0, 2])
    array([2, 3])
    """
    lab = check_labels(labels)
    _, counts = np.unique(lab[lab >= 0], return_counts=True)
    return counts.astype(np.int64)


def _variation_of_information(a: np.ndarray, b: np.ndarray) -> float:
    """``VI = H(A|B) + H(B|A)`` in nats, from the contingency table."""
    table = contingency_matrix(a, b, sparse=True).tocoo()
    n = float(a.shape[0])
    p = table.data / n
    pa = np.asarray(table.sum(axis=1)).ravel() / n
    pb = np.asarray(table.sum(axis=0)).ravel() / n
    mutual = np.sum(p * (np.log(p) - np.log(pa[table.row]) - np.log(pb[table.col])))
    ha = -np.sum(pa * np.log(pa))
    hb = -np.sum(pb * np.log(pb))
    return float(max(ha + hb - 2.0 * mutual, 0.0))


def compare_partitions(labels_a: Any, labels_b: Any, method: str = "nmi") -> float:
    """Agreement between two partitions of the same units.

    Only the units labelled (>= 0) in **both** partitions are compared; units labelled
    -1 in either are left out.

    Parameters
    ----------
    labels_a : array-like of int, shape (n_nodes,)
        First partition; -1 for units left out.
    labels_b : array-like of int, shape (n_nodes,)
        Second partition of the same units.
    method : {"nmi", "ari", "vi"}, default="nmi"
        ``"nmi"``: normalised mutual information [1]_ (scikit-learn, arithmetic mean
        normalisation; 1 for identical partitions). ``"ari"``: adjusted Rand index [2]_
        (scikit-learn; 1 for identical, about 0 for independent). ``"vi"``: variation
        of information [3]_ in nats (igraph's definition; 0 for identical, a distance).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Different lengths, an unknown method, or no unit labelled in both.

    References
    ----------
    .. [1] N. X. Vinh, J. Epps and J. Bailey, "Information theoretic measures for
       clusterings comparison: variants, properties, normalization and correction for
       chance", Journal of Machine Learning Research 11, 2010.
    .. [2] L. Hubert and P. Arabie, "Comparing partitions", Journal of Classification 2(1),
       1985.
    .. [3] M. Meila, "Comparing clusterings: an information based distance", Journal of
       Multivariate Analysis 98(5), 2007.

    Examples
    --------
    >>> compare_partitions([0, 0, 1, 1], [1, 1, 0, 0], "ari")
    1.0
    >>> round(compare_partitions([0, 0, 1, 1], [0, 1, 0, 1], "vi"), 4)
    1.3863
    """
    a = check_labels(labels_a, name="labels_a")
    b = check_labels(labels_b, name="labels_b")
    if a.shape != b.shape:
        raise ValueError(f"labels_a has {a.shape[0]} entries but labels_b has {b.shape[0]}")
    if method not in ("nmi", "ari", "vi"):
        raise ValueError(f"method must be 'nmi', 'ari' or 'vi', got {method!r}")
    both = (a >= 0) & (b >= 0)
    if not both.any():
        raise ValueError("no unit is labelled (>= 0) in both partitions")
    a, b = a[both], b[both]
    if method == "nmi":
        return float(normalized_mutual_info_score(a, b))
    if method == "ari":
        return float(adjusted_rand_score(a, b))
    return _variation_of_information(a, b)
