"""The mutation check inside ``make test``: the catalogue still applies, the runner tells killed
from survived from untested, and the quickest critical mutants are killed.

All mutants run with ``make mutants`` (docs/mutation-testing.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mutants.catalogue import FAST, MUTANTS, Mutant
from tests.mutants.runner import ROOT, CatalogueError, mutated_source, run_mutant

BY_NAME = {m.name: m for m in MUTANTS}


def test_every_mutant_applies_exactly_once_and_names_existing_tests() -> None:
    """A refactor that moves a mutant's code fails here (update the catalogue), instead of
    leaving a mutant that tests nothing."""
    assert len(BY_NAME) == len(MUTANTS), "mutant names must be unique"
    assert set(FAST) <= set(BY_NAME)
    problems = []
    for mutant in MUTANTS:
        try:
            mutated_source(mutant)
        except CatalogueError as error:
            problems.append(str(error))
        for test in mutant.tests:
            if not (ROOT / test.split("::")[0]).is_file():
                problems.append(f"{mutant.name}: no test file {test}")
    assert not problems, "\n".join(problems)


def test_a_snippet_that_is_not_there_exactly_once_is_a_catalogue_error(tmp_path: Path) -> None:
    twice = Mutant("twice", "-", "twice.py", "x = 1\n", "x = 2\n", ("tests",))
    (tmp_path / "twice.py").write_text("x = 1\nx = 1\n")
    with pytest.raises(CatalogueError, match="occurs 2 times"):
        mutated_source(twice, tmp_path)
    (tmp_path / "twice.py").write_text("y = 1\n")
    with pytest.raises(CatalogueError, match="occurs 0 times"):
        mutated_source(twice, tmp_path)


GCOUNTER_VALUE = "        return sum(self.counts.values())\n"
LAWS = "tests/crdt_proxy/test_crdt_types.py::test_merge_is_commutative_associative_idempotent"


def test_an_equivalent_mutant_survives() -> None:
    """The runner reports survivors: a change that breaks nothing passes its tests."""
    same = Mutant(
        "equivalent",
        "-",
        "cloudstate/proxy/crdt/types.py",
        GCOUNTER_VALUE,
        "        return sum(list(self.counts.values()))\n",
        (LAWS,),
    )
    result = run_mutant(same)
    assert result.status == "survived", result.describe()
    assert result.importers == ["pytest"]


def test_a_mutant_its_tests_never_import_is_an_error() -> None:
    """A mutant in a module the tests do not load cannot fail them: that is an error of the
    catalogue, never a pass (the probe appended to the mutated module reports no import)."""
    unloaded = Mutant(
        "unloaded",
        "-",
        "cloudstate/proxy/http/openapi.py",
        '"""An OpenAPI 3 document',
        '"""A mutated OpenAPI 3 document',
        (LAWS,),
    )
    result = run_mutant(unloaded)
    assert result.status == "error", result.describe()
    assert "no process imported the mutated cloudstate/proxy/http/openapi.py" in result.detail


@pytest.mark.parametrize("name", FAST)
def test_fast_mutant_is_killed(name: str) -> None:
    result = run_mutant(BY_NAME[name])
    assert result.status == "killed", result.describe()
