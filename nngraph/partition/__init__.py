"""Stage 2: partitions of a graph, their quality, and their file.

* Partitioners (scikit-learn estimators): :class:`SpectralClustering` (normalised cut),
  :class:`Louvain`, :class:`Leiden`, :class:`LabelPropagation`; :func:`spectral_embedding`,
  :func:`eigengap`, :func:`resolution_for_k`.
* Quality and agreement: :func:`ncut`, :func:`modularity`, :func:`conductance`,
  :func:`cluster_sizes`, :func:`compare_partitions`.
* :class:`Partition` -- labels bound to units by (layer, unit), its JSON file and its
  sub-clusters; :func:`compare_partitioners` -- several partitioners side by side.
"""

from ._compare import (
    PartitionerComparison,
    compare_partitioners,
    make_partitioner,
    make_partitioners,
)
from ._label_propagation import LabelPropagation
from ._leiden import Leiden
from ._louvain import Louvain
from ._metrics import cluster_sizes, compare_partitions, conductance, modularity, ncut
from ._partition import GraphMismatchWarning, Partition, Subcluster
from ._resolution import ResolutionResult, ResolutionWarning, resolution_for_k
from ._spectral_clustering import SpectralClustering
from ._spectral_embedding import (
    DisconnectedGraphWarning,
    EigengapResult,
    eigengap,
    spectral_embedding,
)
from ._spectral_solvers import SpectralConvergenceWarning

__all__ = [
    "DisconnectedGraphWarning",
    "EigengapResult",
    "GraphMismatchWarning",
    "LabelPropagation",
    "Leiden",
    "Louvain",
    "Partition",
    "PartitionerComparison",
    "ResolutionResult",
    "ResolutionWarning",
    "SpectralClustering",
    "SpectralConvergenceWarning",
    "Subcluster",
    "cluster_sizes",
    "compare_partitioners",
    "compare_partitions",
    "conductance",
    "eigengap",
    "make_partitioner",
    "make_partitioners",
    "modularity",
    "ncut",
    "resolution_for_k",
    "spectral_embedding",
]
