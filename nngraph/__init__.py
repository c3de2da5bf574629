"""nngraph: how modular is a trained neural network?

Turn a PyTorch network into a weighted graph of its units, partition it, and test the
partition. See ``README.md`` and ``docs/`` for a tour.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import datasets, models  # noqa: F401
from ._graph import NeuronGraph
from ._tracing import UnsupportedModelError
from ._validation import NonSymmetricWarning
from ._weight_graph import weight_graph

try:
    __version__ = version("nngraph")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.1.0"

__all__ = [
    "NeuronGraph",
    "NonSymmetricWarning",
    "UnsupportedModelError",
    "datasets",
    "models",
    "weight_graph",
]
