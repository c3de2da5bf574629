"""``python -m nngraph`` is the ``nngraph`` command."""

from .cli import main

raise SystemExit(main())
