"""Every Python snippet of the CRDT guide is an excerpt of real, tested code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.markdown import is_excerpt

ROOT = Path(__file__).resolve().parent.parent.parent
GUIDE = ROOT / "docs" / "crdt.md"
SOURCES = [
    *sorted((ROOT / "cloudstate" / "crdt").glob("*.py")),
    *sorted((ROOT / "tests" / "crdt_sdk").glob("*.py")),
    *sorted((ROOT / "examples" / "crdts").rglob("*.py")),
]
SNIPPETS = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.DOTALL)


def test_the_guide_has_snippets() -> None:
    assert len(SNIPPETS) >= 8


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: s.strip().split("\n")[0][:40])
def test_snippet_is_copied_from_the_sources(snippet: str) -> None:
    texts = [path.read_text() for path in SOURCES]
    assert any(is_excerpt(snippet, text) for text in texts), f"not found in the sources:\n{snippet}"
