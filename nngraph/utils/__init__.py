"""Helpers every stage shares: option checks, JSON and atomic files, numba kernels.

Nothing here imports torch or any other stage of nngraph.
"""

from ._io import atomic_write, to_jsonable, write_json
from ._validation import (
    InvalidParameterError,
    canonical_labels,
    check_bool,
    check_choice,
    check_int,
    check_int_sequence,
    check_labels,
    check_real,
    check_seed,
    seed_from,
)

__all__ = [
    "InvalidParameterError",
    "atomic_write",
    "canonical_labels",
    "check_bool",
    "check_choice",
    "check_int",
    "check_int_sequence",
    "check_labels",
    "check_real",
    "check_seed",
    "seed_from",
    "to_jsonable",
    "write_json",
]
