"""The ``nngraph`` command line: argument parsing and thin commands over the library.

``nngraph run`` is the main job (:func:`nngraph.study`); one subcommand per stage reads
and writes files, so stages can be run (and replaced) one at a time. Parsing imports
nothing heavy: ``nngraph --help`` answers at once, and each command imports the
library where it runs.
"""

from ._main import main

__all__ = ["main"]
