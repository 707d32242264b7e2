"""Regenerate the Python code for every .proto shipped in the package (``make protos``).

With ``--check`` it generates into a temporary directory and fails if the committed files differ,
so a stale generated file is caught by the test suite.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloudstate.protoc import run  # noqa: E402

# (proto root, output root): protos under root/cloudstate/... generate into out/cloudstate/...
PROTO_SETS = [
    (ROOT / "cloudstate" / "protos", ROOT),
    (ROOT / "examples" / "shoppingcart" / "proto", ROOT / "examples" / "shoppingcart"),
    (ROOT / "examples" / "valueentity" / "proto", ROOT / "examples" / "valueentity"),
    (ROOT / "examples" / "actions" / "proto", ROOT / "examples" / "actions"),
    (ROOT / "examples" / "crdts" / "proto", ROOT / "examples" / "crdts"),
    (ROOT / "examples" / "shoppingcart_views" / "proto", ROOT / "examples" / "shoppingcart_views"),
    (ROOT / "tests" / "rawuf" / "proto", ROOT / "tests" / "rawuf"),
    (ROOT / "tests" / "http" / "proto", ROOT / "tests" / "http"),
    (ROOT / "tests" / "rawcrdt" / "proto", ROOT / "tests" / "rawcrdt"),
    (ROOT / "tests" / "crdt_e2e" / "proto", ROOT / "tests" / "crdt_e2e"),
    (ROOT / "tests" / "observability" / "proto", ROOT / "tests" / "observability"),
]


def generate(out_override: Path | None) -> list[Path]:
    """Generate every set; returns the written files relative to ROOT.

    With ``out_override`` the files go under that directory, mirroring their layout under ROOT.
    """
    written: list[Path] = []
    for proto_root, out_root in PROTO_SETS:
        rel_out = out_root.relative_to(ROOT)
        out = out_override / rel_out if out_override else out_root
        out.mkdir(parents=True, exist_ok=True)
        files = sorted(str(p.relative_to(proto_root)) for p in proto_root.rglob("*.proto"))
        code = run(
            [
                f"-I{proto_root}",
                f"--python_out={out}",
                f"--pyi_out={out}",
                f"--grpc_python_out={out}",
                *files,
            ]
        )
        if code != 0:
            raise SystemExit(f"protoc failed for {proto_root}")
        for f in files:
            stem = f[: -len(".proto")]
            for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
                written.append(rel_out / (stem + suffix))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if generated code is stale")
    args = parser.parse_args()
    if not args.check:
        generate(None)
        return
    with tempfile.TemporaryDirectory() as tmp:
        stale = [
            str(rel)
            for rel in generate(Path(tmp))
            if not (ROOT / rel).exists()
            or not filecmp.cmp(Path(tmp) / rel, ROOT / rel, shallow=False)
        ]
    if stale:
        raise SystemExit("stale generated code (run `make protos`): " + ", ".join(stale))
    print("generated code is up to date")


if __name__ == "__main__":
    main()
