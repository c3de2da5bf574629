"""Helpers every stage shares: option checks, JSON and atomic files, numba kernels.

Nothing here imports torch or any other stage of nngraph; names load on first use
(:func:`lazy_exports`), so that the command line's parser imports nothing heavy.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_exports, type_checking_exports

__all__ = [
    "SYMMETRY_RTOL",
    "InvalidParameterError",
    "PlainProgress",
    "Stages",
    "atomic_write",
    "canonical_labels",
    "check_alpha",
    "check_bool",
    "check_choice",
    "check_int",
    "check_int_sequence",
    "check_labels",
    "check_real",
    "check_seed",
    "is_symmetric",
    "json_text",
    "kernel_csr_arrays",
    "lazy_exports",
    "progress_bar",
    "seed_from",
    "to_jsonable",
    "type_checking_exports",
    "write_json",
]

# The imports below are what type checkers see, and (read by type_checking_exports)
# where each name is loaded from on first use.
__getattr__, __dir__ = lazy_exports(__name__, type_checking_exports(__file__), globals())

if TYPE_CHECKING:  # pragma: no cover - read by type checkers, and at run time as above
    from ._io import atomic_write, json_text, to_jsonable, write_json
    from ._progress import PlainProgress, Stages, progress_bar
    from ._sparse import SYMMETRY_RTOL, is_symmetric, kernel_csr_arrays
    from ._validation import (
        InvalidParameterError,
        canonical_labels,
        check_alpha,
        check_bool,
        check_choice,
        check_int,
        check_int_sequence,
        check_labels,
        check_real,
        check_seed,
        seed_from,
    )

del TYPE_CHECKING  # kept out of the namespace users tab through
