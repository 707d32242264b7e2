from google.protobuf import any_pb2 as _any_pb2
from cloudstate.protocol import entity_pb2 as _entity_pb2
from cloudstate.protocol import crdt_pb2 as _crdt_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CrdtStreamIn(_message.Message):
    __slots__ = ("init", "state", "changed", "deleted", "command", "stream_cancelled")
    INIT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    STREAM_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    init: CrdtInit
    state: CrdtState
    changed: CrdtDelta
    deleted: _crdt_pb2.CrdtDelete
    command: _entity_pb2.Command
    stream_cancelled: _entity_pb2.StreamCancelled
    def __init__(self, init: _Optional[_Union[CrdtInit, _Mapping]] = ..., state: _Optional[_Union[CrdtState, _Mapping]] = ..., changed: _Optional[_Union[CrdtDelta, _Mapping]] = ..., deleted: _Optional[_Union[_crdt_pb2.CrdtDelete, _Mapping]] = ..., command: _Optional[_Union[_entity_pb2.Command, _Mapping]] = ..., stream_cancelled: _Optional[_Union[_entity_pb2.StreamCancelled, _Mapping]] = ...) -> None: ...

class CrdtStreamOut(_message.Message):
    __slots__ = ("reply", "streamed_message", "stream_cancelled_response", "failure")
    REPLY_FIELD_NUMBER: _ClassVar[int]
    STREAMED_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STREAM_CANCELLED_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    reply: CrdtReply
    streamed_message: _crdt_pb2.CrdtStreamedMessage
    stream_cancelled_response: CrdtStreamCancelledResponse
    failure: _entity_pb2.Failure
    def __init__(self, reply: _Optional[_Union[CrdtReply, _Mapping]] = ..., streamed_message: _Optional[_Union[_crdt_pb2.CrdtStreamedMessage, _Mapping]] = ..., stream_cancelled_response: _Optional[_Union[CrdtStreamCancelledResponse, _Mapping]] = ..., failure: _Optional[_Union[_entity_pb2.Failure, _Mapping]] = ...) -> None: ...

class CrdtInit(_message.Message):
    __slots__ = ("service_name", "entity_id", "state")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    entity_id: str
    state: CrdtState
    def __init__(self, service_name: _Optional[str] = ..., entity_id: _Optional[str] = ..., state: _Optional[_Union[CrdtState, _Mapping]] = ...) -> None: ...

class CrdtReply(_message.Message):
    __slots__ = ("command_id", "client_action", "side_effects", "state_action", "streamed")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ACTION_FIELD_NUMBER: _ClassVar[int]
    SIDE_EFFECTS_FIELD_NUMBER: _ClassVar[int]
    STATE_ACTION_FIELD_NUMBER: _ClassVar[int]
    STREAMED_FIELD_NUMBER: _ClassVar[int]
    command_id: int
    client_action: _entity_pb2.ClientAction
    side_effects: _containers.RepeatedCompositeFieldContainer[_entity_pb2.SideEffect]
    state_action: CrdtStateAction
    streamed: bool
    def __init__(self, command_id: _Optional[int] = ..., client_action: _Optional[_Union[_entity_pb2.ClientAction, _Mapping]] = ..., side_effects: _Optional[_Iterable[_Union[_entity_pb2.SideEffect, _Mapping]]] = ..., state_action: _Optional[_Union[CrdtStateAction, _Mapping]] = ..., streamed: _Optional[bool] = ...) -> None: ...

class CrdtStateAction(_message.Message):
    __slots__ = ("create", "update", "delete", "write_consistency")
    CREATE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    WRITE_CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    create: CrdtState
    update: CrdtDelta
    delete: _crdt_pb2.CrdtDelete
    write_consistency: _crdt_pb2.CrdtWriteConsistency
    def __init__(self, create: _Optional[_Union[CrdtState, _Mapping]] = ..., update: _Optional[_Union[CrdtDelta, _Mapping]] = ..., delete: _Optional[_Union[_crdt_pb2.CrdtDelete, _Mapping]] = ..., write_consistency: _Optional[_Union[_crdt_pb2.CrdtWriteConsistency, str]] = ...) -> None: ...

class CrdtStreamCancelledResponse(_message.Message):
    __slots__ = ("command_id", "side_effects", "state_action")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_EFFECTS_FIELD_NUMBER: _ClassVar[int]
    STATE_ACTION_FIELD_NUMBER: _ClassVar[int]
    command_id: int
    side_effects: _containers.RepeatedCompositeFieldContainer[_entity_pb2.SideEffect]
    state_action: CrdtStateAction
    def __init__(self, command_id: _Optional[int] = ..., side_effects: _Optional[_Iterable[_Union[_entity_pb2.SideEffect, _Mapping]]] = ..., state_action: _Optional[_Union[CrdtStateAction, _Mapping]] = ...) -> None: ...

class CrdtDelta(_message.Message):
    __slots__ = ("gcounter", "pncounter", "gset", "orset", "lwwregister", "flag", "ormap", "vote")
    GCOUNTER_FIELD_NUMBER: _ClassVar[int]
    PNCOUNTER_FIELD_NUMBER: _ClassVar[int]
    GSET_FIELD_NUMBER: _ClassVar[int]
    ORSET_FIELD_NUMBER: _ClassVar[int]
    LWWREGISTER_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    ORMAP_FIELD_NUMBER: _ClassVar[int]
    VOTE_FIELD_NUMBER: _ClassVar[int]
    gcounter: _crdt_pb2.GCounterDelta
    pncounter: _crdt_pb2.PNCounterDelta
    gset: _crdt_pb2.GSetDelta
    orset: _crdt_pb2.ORSetDelta
    lwwregister: _crdt_pb2.LWWRegisterDelta
    flag: _crdt_pb2.FlagDelta
    ormap: ORMapDelta
    vote: _crdt_pb2.VoteDelta
    def __init__(self, gcounter: _Optional[_Union[_crdt_pb2.GCounterDelta, _Mapping]] = ..., pncounter: _Optional[_Union[_crdt_pb2.PNCounterDelta, _Mapping]] = ..., gset: _Optional[_Union[_crdt_pb2.GSetDelta, _Mapping]] = ..., orset: _Optional[_Union[_crdt_pb2.ORSetDelta, _Mapping]] = ..., lwwregister: _Optional[_Union[_crdt_pb2.LWWRegisterDelta, _Mapping]] = ..., flag: _Optional[_Union[_crdt_pb2.FlagDelta, _Mapping]] = ..., ormap: _Optional[_Union[ORMapDelta, _Mapping]] = ..., vote: _Optional[_Union[_crdt_pb2.VoteDelta, _Mapping]] = ...) -> None: ...

class ORMapDelta(_message.Message):
    __slots__ = ("cleared", "removed", "updated", "added")
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    cleared: bool
    removed: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    updated: _containers.RepeatedCompositeFieldContainer[ORMapEntryDelta]
    added: _containers.RepeatedCompositeFieldContainer[ORMapEntry]
    def __init__(self, cleared: _Optional[bool] = ..., removed: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ..., updated: _Optional[_Iterable[_Union[ORMapEntryDelta, _Mapping]]] = ..., added: _Optional[_Iterable[_Union[ORMapEntry, _Mapping]]] = ...) -> None: ...

class ORMapEntryDelta(_message.Message):
    __slots__ = ("key", "delta")
    KEY_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    key: _any_pb2.Any
    delta: CrdtDelta
    def __init__(self, key: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., delta: _Optional[_Union[CrdtDelta, _Mapping]] = ...) -> None: ...

class CrdtState(_message.Message):
    __slots__ = ("gcounter", "pncounter", "gset", "orset", "lwwregister", "flag", "ormap", "vote")
    GCOUNTER_FIELD_NUMBER: _ClassVar[int]
    PNCOUNTER_FIELD_NUMBER: _ClassVar[int]
    GSET_FIELD_NUMBER: _ClassVar[int]
    ORSET_FIELD_NUMBER: _ClassVar[int]
    LWWREGISTER_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    ORMAP_FIELD_NUMBER: _ClassVar[int]
    VOTE_FIELD_NUMBER: _ClassVar[int]
    gcounter: GCounterState
    pncounter: PNCounterState
    gset: GSetState
    orset: ORSetState
    lwwregister: LWWRegisterState
    flag: FlagState
    ormap: ORMapState
    vote: VoteState
    def __init__(self, gcounter: _Optional[_Union[GCounterState, _Mapping]] = ..., pncounter: _Optional[_Union[PNCounterState, _Mapping]] = ..., gset: _Optional[_Union[GSetState, _Mapping]] = ..., orset: _Optional[_Union[ORSetState, _Mapping]] = ..., lwwregister: _Optional[_Union[LWWRegisterState, _Mapping]] = ..., flag: _Optional[_Union[FlagState, _Mapping]] = ..., ormap: _Optional[_Union[ORMapState, _Mapping]] = ..., vote: _Optional[_Union[VoteState, _Mapping]] = ...) -> None: ...

class GCounterState(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: int
    def __init__(self, value: _Optional[int] = ...) -> None: ...

class PNCounterState(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: int
    def __init__(self, value: _Optional[int] = ...) -> None: ...

class GSetState(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    def __init__(self, items: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ...) -> None: ...

class ORSetState(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    def __init__(self, items: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ...) -> None: ...

class LWWRegisterState(_message.Message):
    __slots__ = ("value", "clock", "custom_clock_value")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_CLOCK_VALUE_FIELD_NUMBER: _ClassVar[int]
    value: _any_pb2.Any
    clock: _crdt_pb2.CrdtClock
    custom_clock_value: int
    def __init__(self, value: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., clock: _Optional[_Union[_crdt_pb2.CrdtClock, str]] = ..., custom_clock_value: _Optional[int] = ...) -> None: ...

class FlagState(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: bool
    def __init__(self, value: _Optional[bool] = ...) -> None: ...

class ORMapState(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ORMapEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[ORMapEntry, _Mapping]]] = ...) -> None: ...

class ORMapEntry(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: _any_pb2.Any
    value: CrdtState
    def __init__(self, key: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., value: _Optional[_Union[CrdtState, _Mapping]] = ...) -> None: ...

class VoteState(_message.Message):
    __slots__ = ("votes_for", "total_voters", "self_vote")
    VOTES_FOR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_VOTERS_FIELD_NUMBER: _ClassVar[int]
    SELF_VOTE_FIELD_NUMBER: _ClassVar[int]
    votes_for: int
    total_voters: int
    self_vote: bool
    def __init__(self, votes_for: _Optional[int] = ..., total_voters: _Optional[int] = ..., self_vote: _Optional[bool] = ...) -> None: ...
