"""Every code snippet of the value-entity guide is an excerpt of real, tested code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.markdown import is_excerpt

ROOT = Path(__file__).resolve().parent.parent.parent
GUIDE = ROOT / "docs" / "valueentity.md"
SOURCES = {
    "python": [
        *sorted((ROOT / "examples" / "valueentity" / "valueentity").glob("*.py")),
        ROOT / "tests" / "sdk" / "valueentity_model.py",
        ROOT / "tests" / "sdk" / "test_value_entity.py",
    ],
    "proto": [
        *sorted((ROOT / "examples" / "valueentity" / "proto").rglob("*.proto")),
        *sorted((ROOT / "tests" / "ttl" / "proto").rglob("*.proto")),  # the time-to-live option
    ],
}
SNIPPETS = re.findall(r"```(python|proto)\n(.*?)```", GUIDE.read_text(), re.DOTALL)


def test_the_guide_has_snippets() -> None:
    assert len(SNIPPETS) > 12


@pytest.mark.parametrize(("language", "snippet"), SNIPPETS, ids=lambda s: s.split("\n")[0][:40])
def test_snippet_is_copied_from_the_sources(language: str, snippet: str) -> None:
    texts = [path.read_text() for path in SOURCES[language]]
    assert any(is_excerpt(snippet, text) for text in texts), (
        f"not found in {SOURCES[language]}:\n{snippet}"
    )


def test_the_guide_is_linked_from_the_readme() -> None:
    assert "docs/valueentity.md" in (ROOT / "README.md").read_text()
