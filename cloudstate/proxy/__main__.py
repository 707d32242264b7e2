"""``python -m cloudstate.proxy``: the same as ``cloudstate proxy``."""

from cloudstate.proxy.cli import main

if __name__ == "__main__":
    main()
