"""The mutants: deliberate bugs in the proxy's most critical places, each with the tests that must
catch it. A new guarantee comes with its mutant (docs/mutation-testing.md).

Each mutant replaces one exact snippet of one file (it must occur there exactly once) and names the
tests — node ids or files, run in this order with ``-x`` on SQLite — that must fail with it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mutant:
    #: Short, unique, says what is broken.
    name: str
    #: The guarantee the mutant breaks, in one line.
    guarantee: str
    #: The file, relative to the repository root.
    file: str
    #: The exact source text replaced (must occur exactly once in ``file``).
    original: str
    replacement: str
    #: The tests that must catch it: pytest node ids or files, quickest first.
    tests: tuple[str, ...]
    #: The mutated code runs in a process the tests start (a proxy), not in pytest's own.
    in_subprocess: bool = False
    #: CLOUDSTATE_TEST_BACKENDS for the run.
    backends: str = "sqlite"


SQLITE = "cloudstate/proxy/stores/sqlite.py"
STORE_TESTS = "tests/stores/test_sqlite_store.py"

MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        name="journal-append-unconditional",
        guarantee="an append is conditional on the expected sequence (no lost or forked history)",
        file=SQLITE,
        original="""            if actual != expected_sequence:
                raise ConcurrentWriteError(persistence_id, entity_id, expected_sequence, actual)
""",
        replacement="",
        tests=(f"{STORE_TESTS}::TestSqliteStore::test_concurrent_write_error_writes_nothing",),
    ),
    Mutant(
        name="forward-depth-off-by-one",
        guarantee="a chain of forwards and side effects is cut at exactly --max-forward-depth hops",
        file="cloudstate/proxy/router.py",
        original="        if depth < self.max_forward_depth:\n",
        replacement="        if depth <= self.max_forward_depth:\n",
        tests=("tests/actions/test_router.py::test_a_forward_loop_is_cut_with_the_hops_named",),
    ),
    Mutant(
        name="crdt-gcounter-merge-adds",
        guarantee="merging CRDT states is idempotent, commutative and associative (GCounter)",
        file="cloudstate/proxy/crdt/types.py",
        original="""        for node, count in other.counts.items():
            if count > self.counts.get(node, 0):
                self.counts[node] = count
""",
        replacement="""        for node, count in other.counts.items():
            self.counts[node] = self.counts.get(node, 0) + count
""",
        tests=(
            "tests/crdt_proxy/test_crdt_types.py::test_merge_is_commutative_associative_idempotent",
        ),
    ),
)

#: The quickest critical mutants, run by ``make test`` (tests/mutants/test_fast_subset.py).
FAST: tuple[str, ...] = (
    "journal-append-unconditional",
    "forward-depth-off-by-one",
    "crdt-gcounter-merge-adds",
)
