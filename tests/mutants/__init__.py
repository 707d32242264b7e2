"""Mutation check of the proxy's core: deliberate bugs the tests must catch.

``catalogue.py`` lists the mutants (one exact source snippet each, its replacement and the tests
that must fail), ``runner.py`` applies them one at a time to a copy of the repository and runs
those tests there; ``python -m tests.mutants`` (``make mutants``) runs them all. See
docs/mutation-testing.md.
"""
