"""Regenerate the Python code for every .proto shipped in the package (``make protos``).

With ``--check`` it generates into a temporary directory and fails if the committed files differ
(or a generated file is left over from an earlier layout), so stale generated code is caught by
the test suite.

Where the package's own generated modules go (the ``.proto`` files keep their names and paths,
``cloudstate/protos/cloudstate/*.proto``: descriptor file names are part of the protocol):

* the protocol's services and messages (``entity``, ``event_sourced``, ``value_entity``,
  ``crdt``, ``action``) into the package :mod:`cloudstate.protocol`
  (``cloudstate.protocol.entity_pb2``), and the imports between generated modules are rewritten
  to match (``from cloudstate import entity_pb2`` becomes ``from cloudstate.protocol import
  entity_pb2``, in every proto set here);
* the options user protos import (:data:`USER_IMPORTABLE`: ``cloudstate/entity_key.proto`` ...)
  stay at the package root under their protoc names, where protoc-generated user code imports
  them (``from cloudstate import entity_key_pb2``). They define no service, so they get no
  ``_pb2_grpc.py``.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloudstate.protoc import run  # noqa: E402

PROTOS = ROOT / "cloudstate" / "protos"
# (proto root, output root): protos under root/cloudstate/... generate into out/cloudstate/...
PROTO_SETS = [
    (PROTOS, ROOT),
    (ROOT / "examples" / "shoppingcart" / "proto", ROOT / "examples" / "shoppingcart"),
    (ROOT / "examples" / "valueentity" / "proto", ROOT / "examples" / "valueentity"),
    (ROOT / "examples" / "actions" / "proto", ROOT / "examples" / "actions"),
    (ROOT / "examples" / "crdts" / "proto", ROOT / "examples" / "crdts"),
    (ROOT / "examples" / "shoppingcart_views" / "proto", ROOT / "examples" / "shoppingcart_views"),
    (ROOT / "examples" / "bank" / "proto", ROOT / "examples" / "bank"),
    (ROOT / "examples" / "orders" / "proto", ROOT / "examples" / "orders"),
    (ROOT / "tests" / "rawuf" / "proto", ROOT / "tests" / "rawuf"),
    (ROOT / "tests" / "http" / "proto", ROOT / "tests" / "http"),
    (ROOT / "tests" / "rawcrdt" / "proto", ROOT / "tests" / "rawcrdt"),
    (ROOT / "tests" / "crdt_e2e" / "proto", ROOT / "tests" / "crdt_e2e"),
    (ROOT / "tests" / "observability" / "proto", ROOT / "tests" / "observability"),
    (ROOT / "tests" / "durable" / "proto", ROOT / "tests" / "durable"),
    (ROOT / "tests" / "lifecycle" / "proto", ROOT / "tests" / "lifecycle"),
    (ROOT / "tests" / "workflow_sdk" / "proto", ROOT / "tests" / "workflow_sdk"),
    (ROOT / "tests" / "workflows" / "proto", ROOT / "tests" / "workflows"),
    (ROOT / "tests" / "ttl" / "proto", ROOT / "tests" / "ttl"),
]

#: The package's protos that user protos may import: generated at the package root.
USER_IMPORTABLE = (
    "entity_key",
    "legacy_entity_key",
    "eventing",
    "view",
    "auth",
    "schedule",
    "entity_ttl",
    "lifecycle",
)
#: The package's other top-level protos: the protocol, generated into cloudstate/protocol/.
PROTOCOL = tuple(
    sorted(p.stem for p in (PROTOS / "cloudstate").glob("*.proto") if p.stem not in USER_IMPORTABLE)
)
PROTOCOL_DIR = Path("cloudstate") / "protocol"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")

_IMPORT = re.compile(r"^from cloudstate import (" + "|".join(PROTOCOL) + r")_pb2\b", re.M)


def _rewrite(text: str, stem: str | None) -> str:
    """Imports of the protocol's modules from cloudstate.protocol; in a protocol module itself,
    its own module name too (the ``__module__`` of its message classes)."""
    text = _IMPORT.sub(r"from cloudstate.protocol import \1_pb2", text)
    if stem is not None:
        text = text.replace(f"'cloudstate.{stem}_pb2'", f"'cloudstate.protocol.{stem}_pb2'")
    return text


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
            for suffix in SUFFIXES:
                generated = rel_out / (stem + suffix)
                target = _place(generated, proto_root)
                source, destination = out / (stem + suffix), out / target.relative_to(rel_out)
                if target == Path():
                    source.unlink()
                    continue
                moved_stem = target.stem.removesuffix("_pb2_grpc").removesuffix("_pb2")
                in_protocol = target.parent == PROTOCOL_DIR
                text = _rewrite(source.read_text(), moved_stem if in_protocol else None)
                source.unlink()
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_text(text)
                written.append(target)
    return written


def _place(generated: Path, proto_root: Path) -> Path:
    """Where a generated file of the package's own protos goes (``Path()``: nowhere)."""
    if proto_root != PROTOS or generated.parent != Path("cloudstate"):
        return generated
    name = generated.name
    stem = name[: name.index("_pb2")]
    if stem in PROTOCOL:
        return PROTOCOL_DIR / name
    if name.endswith("_pb2_grpc.py"):  # options only, no service
        return Path()
    return generated


def _leftovers(written: list[Path]) -> list[str]:
    """Generated files of the package's own protos that the current layout does not write."""
    expected = {str(p) for p in written}
    present = [
        p.relative_to(ROOT)
        for directory in (ROOT / "cloudstate", ROOT / PROTOCOL_DIR)
        for p in directory.glob("*_pb2*.py*")
    ]
    return sorted(str(p) for p in present if str(p) not in expected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if generated code is stale")
    args = parser.parse_args()
    if not args.check:
        written = generate(None)
        for leftover in _leftovers(written):
            (ROOT / leftover).unlink()
            print(f"removed {leftover} (not generated any more)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        written = generate(Path(tmp))
        stale = [
            str(rel)
            for rel in written
            if not (ROOT / rel).exists()
            or not filecmp.cmp(Path(tmp) / rel, ROOT / rel, shallow=False)
        ]
    stale += [f"{leftover} (not generated any more)" for leftover in _leftovers(written)]
    if stale:
        raise SystemExit("stale generated code (run `make protos`): " + ", ".join(stale))
    print("generated code is up to date")


if __name__ == "__main__":
    main()
