"""The entry point: parse, dispatch to a command, turn expected errors into exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nngraph`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0, or 2 after printing an error (bad arguments or input).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    from . import _commands

    command = getattr(_commands, f"cmd_{args.command}")
    try:
        return command(args)
    except (ValueError, TypeError, OSError) as exc:
        print(f"nngraph {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
