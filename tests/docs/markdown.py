"""The fenced code blocks of the documentation (README.md and docs/*.md), and what makes a code
block an excerpt of a source file (:func:`is_excerpt`, :func:`missing_imports`)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
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


# An imported name: (module, name, alias), e.g. ("cloudstate", "Action", None) for
# ``from cloudstate import Action`` and (None, "grpc", None) for ``import grpc``.
_Import = tuple[str | None, str, str | None]


def _imports(tree: ast.AST) -> dict[str, _Import]:
    """The names the import statements anywhere in ``tree`` bind, with what they import."""
    bound: dict[str, _Import] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound[alias.asname or alias.name.split(".")[0]] = (None, alias.name, alias.asname)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                bound[alias.asname or alias.name] = (module, alias.name, alias.asname)
    return bound


def _only_imports(text: str) -> bool:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    return bool(tree.body) and all(isinstance(n, ast.Import | ast.ImportFrom) for n in tree.body)


def split_imports(text: str) -> tuple[str, str]:
    """A code block's opening import statements (one or more groups, each ended by a blank line)
    and the rest of the block; ``("", text)`` if it does not open with imports."""
    lines = text.splitlines(keepends=True)
    end = 0
    for i, line in enumerate(lines):
        if line.strip():
            continue
        if not _only_imports("".join(lines[:i])):
            break
        end = i
    if not end:
        return "", text
    start = end
    while start < len(lines) and not lines[start].strip():
        start += 1
    return "".join(lines[:end]), "".join(lines[start:])


@cache
def _source_imports(source: str) -> dict[str, _Import]:
    try:
        return _imports(ast.parse(source))
    except SyntaxError:  # a .proto file
        return {}


def is_excerpt(text: str, source: str) -> bool:
    """Whether a code block is an excerpt of ``source`` (the text of one file):

    * the block occurs in the source verbatim; or
    * the block opens with import statements, then a blank line, then text that occurs in the
      source verbatim, and every name those statements import, the source imports the same way
      (same module, same name, same alias). So a block quoting a function can show, above it, the
      imports it needs (only those, grouped as the page likes) although in the source they are
      at the top of the file.
    """
    if text in source:
        return True
    header, body = split_imports(text)
    if not header or not body.strip() or body not in source:
        return False
    wanted = set(_imports(ast.parse(header)).values())
    return wanted <= set(_source_imports(source).values())


def missing_imports(text: str, source: str) -> list[str]:
    """The names a code block (an excerpt of ``source``) uses and ``source`` imports, but the
    block does not import: what a reader copying the block would have to guess. Only blocks of
    complete top-level code are checked, not a few lines out of a function (indented, or not
    Python on their own, like a ``def`` line without its body)."""
    header, body = split_imports(text)
    if body[:1].isspace():
        return []
    try:
        tree = ast.parse(body)
    except SyntaxError:
        return []
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    shown = _imports(ast.parse(header)) | _imports(tree)
    return sorted((used & _source_imports(source).keys()) - shown.keys())
