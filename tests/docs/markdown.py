"""The fenced code blocks of the documentation (README.md and docs/*.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```(\S*)[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """One fenced block: its file (relative to the repository), line, language and text."""

    doc: str
    line: int
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    def commands(self) -> list[str]:
        """The shell commands of an ``sh`` block: one per line, continuations joined."""
        commands: list[str] = []
        pending = ""
        for raw in self.text.splitlines():
            line = raw.rstrip()
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            line = (pending + line.strip()).strip()
            pending = ""
            if line and not line.startswith("#"):
                commands.append(line)
        return commands


def blocks(doc: Path) -> list[Block]:
    text = doc.read_text()
    name = str(doc.relative_to(ROOT))
    return [
        Block(name, text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
        for m in _FENCE.finditer(text)
    ]


def all_blocks() -> list[Block]:
    return [block for doc in DOCS for block in blocks(doc)]


def find(doc: str, containing: str) -> Block:
    """The one block of ``doc`` whose text contains ``containing``."""
    found = [b for b in blocks(ROOT / doc) if containing in b.text]
    if len(found) != 1:
        raise LookupError(f"{len(found)} blocks of {doc} contain {containing!r}")
    return found[0]
