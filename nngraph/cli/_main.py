"""The entry point: parse, dispatch to a command, turn expected errors into exit codes."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

from ._parser import build_parser

__all__ = ["main"]


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one plain line (no source path) for command-line users."""
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nngraph`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0; 2 after printing an error (bad arguments or input); 130
        when interrupted (Ctrl-C), after one line and no traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    from . import _commands

    command = getattr(_commands, f"cmd_{args.command}")
    show = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        return command(args)
    except (KeyboardInterrupt, SystemError) as exc:  # SystemError: Ctrl-C in a numba kernel
        from ..utils._progress import interrupted

        if not interrupted(exc):
            raise
        print(f"\nnngraph {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"nngraph {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = show


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
