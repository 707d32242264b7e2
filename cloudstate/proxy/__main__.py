"""``python -m cloudstate.proxy``: the same as ``cloudstate proxy``."""

from cloudstate.cli import main

if __name__ == "__main__":
    main(["proxy", *__import__("sys").argv[1:]])
