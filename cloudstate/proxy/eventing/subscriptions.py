"""Which methods consume what: the ``(cloudstate.eventing)`` method options, read at start-up.

A method carries ``option (cloudstate.eventing).in.event_log = "<persistence id>"`` (or
``in.topic``) to consume a source. Methods of one service with an equal source and consumer
group (default: the service name) form one :class:`Subscription`; each event goes to the method
whose input type is the event's type, else to the method taking ``google.protobuf.Any``.
Events of the ``json.cloudstate.io/`` and ``p.cloudstate.io/`` families only ever go to the
``Any`` method. Example::

    for subscription in event_subscriptions(model):
        method = subscription.route("type.googleapis.com/shop.ItemAdded")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudstate import eventing_pb2
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.model import MethodModel, UserFunctionModel, method_option

ANY_TYPE = "google.protobuf.Any"
#: Type-url prefixes of JSON and primitive payloads: never a protobuf message type.
UNTYPED_PREFIXES = ("json.cloudstate.io/", "p.cloudstate.io/")

EVENT_LOG = "event_log"
TOPIC = "topic"
#: The state changes of a value entity type (read from its change topic, see
#: cloudstate/proxy/entities/value_entity.py).
VALUE_ENTITY = "value_entity"


def change_topic(persistence_id: str) -> str:
    """The internal topic carrying the state changes of a value entity type (written by its
    entities only while something consumes them: ``in.value_entity``)."""
    return f"cloudstate.value_entity/{persistence_id}"


@dataclass(slots=True)
class Subscription:
    """One consumer: the methods of one service that consume one source in one group."""

    service: str
    consumer_group: str
    kind: str  # EVENT_LOG, TOPIC or VALUE_ENTITY
    source: str  # the persistence id or topic name
    by_type: dict[str, MethodModel] = field(default_factory=dict)  # input full name -> method
    any_method: MethodModel | None = None
    out_topics: dict[str, str] = field(default_factory=dict)  # method name -> topic

    @property
    def consumer_id(self) -> str:
        """The key of this consumer's offset in the store."""
        return f"{self.kind}:{self.source}:{self.consumer_group}"

    @property
    def methods(self) -> list[MethodModel]:
        found = list(self.by_type.values())
        if self.any_method is not None:
            found.append(self.any_method)
        return found

    def route(self, type_url: str) -> MethodModel | None:
        """The method that takes a payload of ``type_url``; None if no method takes it."""
        if not type_url.startswith(UNTYPED_PREFIXES):
            method = self.by_type.get(type_url.rsplit("/", 1)[-1])
            if method is not None:
                return method
        return self.any_method

    def describe(self) -> str:
        what = {EVENT_LOG: "event log", VALUE_ENTITY: "value entity"}.get(self.kind, "topic")
        return f"{self.service} (consumer group {self.consumer_group!r}) <- {what} {self.source!r}"


def method_eventing(model: UserFunctionModel, method: MethodModel) -> Any | None:
    """The ``cloudstate.Eventing`` options of a method, or None if it has none."""
    return method_option(model, method, eventing_pb2.eventing)


def event_subscriptions(model: UserFunctionModel) -> list[Subscription]:
    """Every consumer the user function declares, sorted by service; DiscoveryError naming the
    methods if the options are contradictory (two methods of one consumer taking one type, a
    method publishing to the topic it consumes)."""
    found: dict[tuple[str, str, str, str], Subscription] = {}
    problems: list[str] = []
    for service in model.services.values():
        for method in service.methods.values():
            eventing = method_eventing(model, method)
            if eventing is None or not eventing.HasField("in"):
                continue
            source = getattr(eventing, "in")
            kind = source.WhichOneof("source")
            where = f"{service.name}.{method.name}"
            if kind is None:
                problems.append(
                    f"{where}: (cloudstate.eventing).in names no event_log, topic or value_entity"
                )
                continue
            name = getattr(source, kind)
            if not name:
                problems.append(f"{where}: (cloudstate.eventing).in.{kind} is empty")
                continue
            group = source.consumer_group or service.name
            key = (service.name, group, kind, name)
            subscription = found.setdefault(key, Subscription(service.name, group, kind, name))
            input_name = method.input_type.full_name
            if input_name == ANY_TYPE:
                other = subscription.any_method
                if other is not None:
                    problems.append(_clash(where, other, input_name, subscription))
                    continue
                subscription.any_method = method
            else:
                other = subscription.by_type.get(input_name)
                if other is not None:
                    problems.append(_clash(where, other, input_name, subscription))
                    continue
                subscription.by_type[input_name] = method
            if eventing.HasField("out") and eventing.out.WhichOneof("destination") == "topic":
                out = eventing.out.topic
                if kind == TOPIC and out == name:
                    problems.append(
                        f"{where} consumes and publishes to the same topic {name!r}: "
                        "that would feed its own output back to it forever"
                    )
                    continue
                subscription.out_topics[method.name] = out
    if problems:
        raise DiscoveryError("eventing options: " + "; ".join(problems))
    return sorted(found.values(), key=lambda s: (s.service, s.consumer_group, s.kind, s.source))


def _clash(where: str, other: MethodModel, input_name: str, subscription: Subscription) -> str:
    return (
        f"{where} and {other.service.name}.{other.name} both take {input_name} from "
        f"{subscription.kind} {subscription.source!r} in consumer group "
        f"{subscription.consumer_group!r}: an event would have two handlers; give one of them "
        "another consumer_group"
    )
