"""``python -m tests.mutants [NAMES...] [--fast] [--jobs N] [--list]`` (``make mutants``)."""

from tests.mutants.runner import main

raise SystemExit(main())
