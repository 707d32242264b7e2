"""A user function for failure tests: ``obstest.Flaky``, an event-sourced entity whose handler
crashes on ``text: "crash"``, and ``obstest.PokeConsumer``, a consumer of its events that fails
until :attr:`Consumer.healthy` is set."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from google.protobuf import empty_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from obstest import flaky_pb2

from cloudstate.action import Action
from cloudstate.cloudstate import CloudState
from cloudstate.event_sourced_entity import EventSourcedEntity

FILE = flaky_pb2.DESCRIPTOR


class Consumer:
    """The consumer's handler fails until ``healthy`` is set."""

    healthy = True
    failed = 0
    handled: list[str] = []


def build() -> CloudState:
    flaky = EventSourcedEntity(
        FILE.services_by_name["Flaky"], [FILE], lambda: 0, persistence_id="flaky"
    )

    @flaky.event_handler(flaky_pb2.Poked)
    def poked(state: int, event: Any) -> int:
        return state + 1

    @flaky.command_handler("Poke")
    def poke(state: int, command: Any, ctx: Any) -> Any:
        if command.text == "crash":
            raise RuntimeError("the handler crashed")
        ctx.emit(flaky_pb2.Poked(text=command.text))
        return flaky_pb2.Pokes(count=state + 1)

    consumer = Action(FILE.services_by_name["PokeConsumer"], [FILE])

    @consumer.unary("OnPoked")
    def on_poked(event: Any) -> Any:
        if not Consumer.healthy:
            Consumer.failed += 1
            raise RuntimeError("the consumer is not ready")
        Consumer.handled.append(event.text)
        return empty_pb2.Empty()

    return (
        CloudState(service_name="failure-metrics")
        .register_event_sourced_entity(flaky)
        .register_action(consumer)
    )
