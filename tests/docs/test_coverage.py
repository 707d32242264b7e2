"""Every example in README.md and docs/ is executed by the test suite.

* ``sh`` blocks: each belongs to a session of ``tests/docs/sessions.py`` (run by
  ``test_doc_commands.py``) or to a replayed page (``test_getting_started.py``);
* ``python`` and ``proto`` blocks: each is a verbatim excerpt of code the suite runs (the examples
  and the tests), is a doctest (run here), or belongs to a replayed page, whose files the replay
  writes and runs. An excerpt may open with import statements that the file it quotes has at
  its top (the same imports, any subset, any grouping; see ``markdown.is_excerpt``), so that it
  shows where its names come from;
* a ``python`` excerpt that is complete Python imports every name it uses that its file imports
  (``markdown.missing_imports``): a reader copying it has nothing to guess (``from cloudstate
  import ...`` for the SDK, ``from cloudstate.testkit import ...`` in tests);
* ``text`` blocks are diagrams and sample output (the outputs of the CLI page and of the
  getting-started page are compared with real output by the tests that run their commands).

Guides with their own snippet test (tests/sdk/test_docs.py, ...) are checked here too: this is
the net under all of them.
"""

from __future__ import annotations

import doctest
import textwrap
from functools import cache

import pytest

from tests.docs import sessions
from tests.docs.markdown import ROOT, Block, all_blocks, find, is_excerpt, missing_imports

LANGUAGES = {"python", "proto", "sh", "text"}
BLOCKS = all_blocks()


def block_id(block: Block) -> str:
    return block.where


@cache
def sources_run_by_tests() -> dict[str, str]:
    """Text of every file the test suite runs: the examples, the tests and the protocol's own
    protos (the protocol pages quote them)."""
    return {
        str(path.relative_to(ROOT)): path.read_text()
        for base in ("examples", "tests", "cloudstate/protos")
        for pattern in ("*.py", "*.proto")
        for path in (ROOT / base).rglob(pattern)
    }


def test_there_are_examples_to_check() -> None:
    assert len(BLOCKS) > 100
    assert {b.language for b in BLOCKS} >= LANGUAGES


@pytest.mark.parametrize("block", BLOCKS, ids=block_id)
def test_every_block_says_what_it_is(block: Block) -> None:
    assert block.language in LANGUAGES, (
        f"{block.where}: tag the block ```sh (commands, run by tests/docs/sessions.py), "
        "```python / ```proto (code the tests run) or ```text (diagrams, sample output)"
    )


def claimed_shell_blocks() -> set[str]:
    claimed = {
        find(doc, containing).where
        for blocks in sessions.SESSIONS.values()
        for doc, containing in blocks
    }
    claimed |= {find(doc, containing).where for doc, containing in sessions.PROTOC}
    return claimed


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.language == "sh"], ids=block_id)
def test_every_command_block_is_run(block: Block) -> None:
    if block.doc in sessions.REPLAYED:
        return
    assert block.where in claimed_shell_blocks(), (
        f"{block.where}: no test runs these commands; add the block to a session in "
        f"tests/docs/sessions.py:\n{block.text}"
    )


def test_commands_not_run_are_few_and_documented() -> None:
    documented = {c for b in BLOCKS if b.language == "sh" for c in b.commands()}
    for command in sessions.NOT_RUN:
        assert any(c.startswith(command) for c in documented), f"{command!r} is not documented"
    assert len(sessions.NOT_RUN) <= 1


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.language in ("python", "proto")], ids=block_id
)
def test_every_code_block_is_code_the_tests_run(block: Block) -> None:
    if block.doc in sessions.REPLAYED:
        return
    text = block.text
    if textwrap.dedent(text).lstrip().startswith(">>>"):
        run_doctest(block)
        return
    found = excerpt_sources(text)
    assert found, (
        f"{block.where}: this {block.language} example is not an excerpt of the examples or "
        f"tests (copy it from code the suite runs, or make it a doctest):\n{text}"
    )


def test_the_excerpt_rules() -> None:
    source = (
        "import grpc\n\nfrom cloudstate import ActionContext, Forward\n\n\n"
        "def f(ctx: ActionContext) -> Forward:\n    return ctx.forward(grpc.X)\n"
    )
    body = "def f(ctx: ActionContext) -> Forward:\n    return ctx.forward(grpc.X)\n"
    shown = "import grpc\n\nfrom cloudstate import ActionContext, Forward\n\n\n" + body
    assert is_excerpt(body, source) and missing_imports(body, source) == [
        "ActionContext",
        "Forward",
        "grpc",
    ]
    assert is_excerpt(shown, source) and missing_imports(shown, source) == []
    some = "from cloudstate import Forward\n\n" + body  # a subset of the imports: allowed
    assert is_excerpt(some, source) and missing_imports(some, source) == ["ActionContext", "grpc"]
    other = "from cloudstate.action_context import ActionContext, Forward\nimport grpc\n\n"
    assert not is_excerpt(other + body, source)  # not how the file imports them
    assert not is_excerpt("from cloudstate import Forward\n\ndef g(): pass\n", source)
    assert missing_imports("    return ctx.forward(grpc.X)\n", source) == []  # a fragment


def excerpt_sources(text: str) -> list[str]:
    """The files run by the tests that a code block is an excerpt of."""
    return [name for name, source in sources_run_by_tests().items() if is_excerpt(text, source)]


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.language == "python"], ids=block_id)
def test_every_code_block_shows_its_imports(block: Block) -> None:
    if block.doc in sessions.REPLAYED or textwrap.dedent(block.text).lstrip().startswith(">>>"):
        return
    sources = sources_run_by_tests()
    missing = {
        name: missing_imports(block.text, sources[name]) for name in excerpt_sources(block.text)
    }
    if not missing or not all(missing.values()):
        return  # not an excerpt (the test above says so), or an excerpt with its imports
    name, names = min(missing.items(), key=lambda item: len(item[1]))
    assert not names, (
        f"{block.where}: the example uses {', '.join(names)} without showing where they come "
        f"from; open the block with their imports, as {name} has them:\n{block.text}"
    )


def run_doctest(block: Block) -> None:
    """Run a ``>>>`` example of a cloudstate module's docstring in a namespace of its own: it
    imports what it uses, as a reader trying it would."""
    modules = [
        path for path in (ROOT / "cloudstate").rglob("*.py") if block.text in path.read_text()
    ]
    assert modules, f"{block.where}: doctest not found (verbatim) in a cloudstate module"
    test = doctest.DocTestParser().get_doctest(
        textwrap.dedent(block.text), {}, block.where, block.doc, block.line
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0, f"{block.where}: the doctest failed (see the output above)"
