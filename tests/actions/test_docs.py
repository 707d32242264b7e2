"""Every code snippet of the actions and forwards/effects guides is an excerpt of real,
tested code (the example or the test model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.markdown import is_excerpt

ROOT = Path(__file__).resolve().parent.parent.parent
GUIDES = [ROOT / "docs" / "actions.md", ROOT / "docs" / "forwards-and-effects.md"]
SOURCES = {
    "python": [
        *sorted((ROOT / "examples" / "actions" / "cartactions").glob("*.py")),
        ROOT / "tests" / "actions" / "model.py",
    ],
    "proto": sorted((ROOT / "examples" / "actions" / "proto").rglob("*.proto")),
}
SNIPPETS = [
    (guide.name, language, snippet)
    for guide in GUIDES
    for language, snippet in re.findall(
        r"```(python|proto)\n(.*?)```", guide.read_text(), re.DOTALL
    )
]


def test_the_guides_have_snippets() -> None:
    assert len([s for s in SNIPPETS if s[0] == "actions.md"]) >= 8
    assert len([s for s in SNIPPETS if s[0] == "forwards-and-effects.md"]) >= 1


@pytest.mark.parametrize(
    ("guide", "language", "snippet"), SNIPPETS, ids=lambda s: s.split("\n")[0][:40]
)
def test_snippet_is_copied_from_the_sources(guide: str, language: str, snippet: str) -> None:
    texts = [path.read_text() for path in SOURCES[language]]
    assert any(is_excerpt(snippet, text) for text in texts), (
        f"{guide}: not found in sources:\n{snippet}"
    )


def test_the_guides_are_linked() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/actions.md" in readme
    assert "docs/forwards-and-effects.md" in readme
