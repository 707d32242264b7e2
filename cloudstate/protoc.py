"""Compile ``.proto`` files with Cloudstate's and Google's protos on the include path.

User protos import ``cloudstate/entity_key.proto`` and ``google/api/annotations.proto``; this
wrapper around ``grpc_tools.protoc`` finds both (shipped inside this package and in
googleapis-common-protos) so the compile step is one line::

    python -m cloudstate.protoc -I proto --python_out=. --grpc_python_out=. proto/shoppingcart.proto

Every argument is passed to protoc unchanged; the include paths are appended after yours.
"""

from __future__ import annotations

import sys
from pathlib import Path


def include_paths() -> list[str]:
    """The directories holding Cloudstate's, googleapis' and the well-known protos."""
    import google.api  # googleapis-common-protos ships google/api/*.proto
    import grpc_tools

    cloudstate_protos = Path(__file__).resolve().parent / "protos"
    googleapis_root = Path(next(iter(google.api.__path__))).parent.parent
    well_known = Path(next(iter(grpc_tools.__path__))) / "_proto"
    return [str(cloudstate_protos), str(googleapis_root), str(well_known)]


def run(args: list[str]) -> int:
    """Run protoc with ``args`` plus the include paths; returns protoc's exit code."""
    try:
        from grpc_tools import protoc
    except ImportError:  # pragma: no cover - depends on the environment
        print("cloudstate.protoc needs grpcio-tools: pip install grpcio-tools", file=sys.stderr)
        return 2
    argv = ["grpc_tools.protoc", *args, *(f"-I{path}" for path in include_paths())]
    return int(protoc.main(argv))


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
