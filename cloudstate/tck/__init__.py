"""The Cloudstate conformance kit (TCK): checks a language support or a proxy against the protocol.

Two targets (see ``docs/tck.md``):

* ``language-support`` drives a user function implementing the TCK model services directly
  through the Cloudstate protocol, as a proxy would, and compares every message it answers;
* ``proxy`` calls a proxy in front of such a user function as a client, with a relay between
  the proxy and the user function that records the protocol streams both ways.

Command line: ``cloudstate tck language-support --start-model`` (or ``python -m
cloudstate.tck``); pytest: the :mod:`cloudstate.tck.pytest_plugin` plugin; Python::

    from cloudstate.tck.runner import run
    from cloudstate.tck.session import TckSettings
    from cloudstate.tck.framework import LANGUAGE_SUPPORT

    results = await run(TckSettings(targets=(LANGUAGE_SUPPORT,), user_function="127.0.0.1:8080"))
"""
