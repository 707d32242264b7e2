"""The :class:`Vote` CRDT: each node votes yes or no; everyone sees the tally."""

from __future__ import annotations

from typing import Any

from cloudstate.any_support import AnySupport
from cloudstate.crdt.base import Crdt
from cloudstate.protocol import crdt_pb2


class Vote(Crdt):
    """This node's vote plus the tally over all nodes of the proxy cluster.

    A new vote is (``self_vote=False``, ``votes_for=0``, ``total_voters=1``) until the proxy
    reports the cluster's tally; voting adjusts the local tally right away.

    >>> from cloudstate import Vote
    >>> ready = Vote()
    >>> ready.vote(True)
    >>> ready.votes_for, ready.total_voters, ready.majority
    (1, 1, True)
    """

    delta_field = "vote"

    def __init__(self) -> None:
        self._self_vote = False
        self._votes_for = 0
        self._total_voters = 1
        self._sent_vote = False  # the vote the proxy knows

    @property
    def self_vote(self) -> bool:
        """This node's vote."""
        return self._self_vote

    @property
    def votes_for(self) -> int:
        """How many nodes vote yes."""
        return self._votes_for

    @property
    def total_voters(self) -> int:
        """How many nodes vote."""
        return self._total_voters

    @property
    def at_least_one(self) -> bool:
        """At least one node votes yes."""
        return self._votes_for > 0

    @property
    def majority(self) -> bool:
        """More than half of the nodes vote yes."""
        return 2 * self._votes_for > self._total_voters

    @property
    def all(self) -> bool:
        """Every node votes yes."""
        return self._votes_for == self._total_voters

    def vote(self, value: bool) -> None:
        """Set this node's vote."""
        if not isinstance(value, bool):
            raise TypeError(f"Vote.vote() takes a bool, not {value!r}")
        if value != self._self_vote:
            self._touch()
            self._self_vote = value
            self._votes_for += 1 if value else -1

    def __repr__(self) -> str:
        return (
            f"Vote(self_vote={self._self_vote}, votes_for={self._votes_for}, "
            f"total_voters={self._total_voters})"
        )

    # -- replication ------------------------------------------------------------------------

    def _has_delta(self) -> bool:
        return self._self_vote != self._sent_vote

    def _delta_message(self) -> crdt_pb2.VoteDelta:
        # The proxy only reads self_vote: the tally is its business.
        return crdt_pb2.VoteDelta(self_vote=self._self_vote)

    def _state_message(self) -> crdt_pb2.VoteDelta:
        return crdt_pb2.VoteDelta(self_vote=self._self_vote)

    def _reset_delta(self) -> None:
        self._sent_vote = self._self_vote

    def _apply(self, delta: Any, any_support: AnySupport) -> None:
        self._self_vote = delta.self_vote
        self._votes_for = delta.votes_for
        self._total_voters = delta.total_voters
        self._sent_vote = delta.self_vote

    def _checkpoint(self) -> Any:
        return self._self_vote, self._votes_for, self._total_voters, self._sent_vote

    def _rollback(self, token: Any) -> None:
        self._self_vote, self._votes_for, self._total_voters, self._sent_vote = token


__all__ = ["Vote"]
