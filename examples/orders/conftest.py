"""Lets the example's tests import ``bank.*`` from this directory, as the user function
does (pytest puts the directory of a ``conftest.py`` without ``__init__.py`` on ``sys.path``)."""
