"""The developer tools behind the ``cloudstate`` command (``run --reload``, ``call``,
``inspect``): see ``docs/cli.md``."""
