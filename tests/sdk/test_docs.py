"""Every code snippet of the event-sourced guide is an excerpt of real, tested code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.markdown import is_excerpt

ROOT = Path(__file__).resolve().parent.parent.parent
GUIDE = ROOT / "docs" / "eventsourced.md"
SOURCES = {
    "python": [
        *sorted((ROOT / "examples" / "shoppingcart" / "shoppingcart").glob("*.py")),
        ROOT / "tests" / "sdk" / "model.py",
        ROOT / "tests" / "sdk" / "conftest.py",
        ROOT / "tests" / "lifecycle" / "uf.py",
    ],
    "proto": [
        *sorted((ROOT / "examples" / "shoppingcart" / "proto").rglob("*.proto")),
        *sorted((ROOT / "tests" / "lifecycle" / "proto").rglob("*.proto")),
    ],
}
SNIPPETS = re.findall(r"```(python|proto)\n(.*?)```", GUIDE.read_text(), re.DOTALL)


def test_the_guide_has_snippets() -> None:
    assert len(SNIPPETS) > 15


@pytest.mark.parametrize(("language", "snippet"), SNIPPETS, ids=lambda s: s.split("\n")[0][:40])
def test_snippet_is_copied_from_the_sources(language: str, snippet: str) -> None:
    texts = [path.read_text() for path in SOURCES[language]]
    assert any(is_excerpt(snippet, text) for text in texts), (
        f"not found in {SOURCES[language]}:\n{snippet}"
    )
