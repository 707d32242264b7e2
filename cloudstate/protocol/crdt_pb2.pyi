from google.protobuf import any_pb2 as _any_pb2
from cloudstate.protocol import entity_pb2 as _entity_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CrdtWriteConsistency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOCAL: _ClassVar[CrdtWriteConsistency]
    MAJORITY: _ClassVar[CrdtWriteConsistency]
    ALL: _ClassVar[CrdtWriteConsistency]

class CrdtClock(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEFAULT: _ClassVar[CrdtClock]
    REVERSE: _ClassVar[CrdtClock]
    CUSTOM: _ClassVar[CrdtClock]
    CUSTOM_AUTO_INCREMENT: _ClassVar[CrdtClock]
LOCAL: CrdtWriteConsistency
MAJORITY: CrdtWriteConsistency
ALL: CrdtWriteConsistency
DEFAULT: CrdtClock
REVERSE: CrdtClock
CUSTOM: CrdtClock
CUSTOM_AUTO_INCREMENT: CrdtClock

class CrdtStreamIn(_message.Message):
    __slots__ = ("init", "delta", "delete", "command", "stream_cancelled")
    INIT_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    STREAM_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    init: CrdtInit
    delta: CrdtDelta
    delete: CrdtDelete
    command: _entity_pb2.Command
    stream_cancelled: _entity_pb2.StreamCancelled
    def __init__(self, init: _Optional[_Union[CrdtInit, _Mapping]] = ..., delta: _Optional[_Union[CrdtDelta, _Mapping]] = ..., delete: _Optional[_Union[CrdtDelete, _Mapping]] = ..., command: _Optional[_Union[_entity_pb2.Command, _Mapping]] = ..., stream_cancelled: _Optional[_Union[_entity_pb2.StreamCancelled, _Mapping]] = ...) -> None: ...

class CrdtStreamOut(_message.Message):
    __slots__ = ("reply", "streamed_message", "stream_cancelled_response", "failure")
    REPLY_FIELD_NUMBER: _ClassVar[int]
    STREAMED_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STREAM_CANCELLED_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    reply: CrdtReply
    streamed_message: CrdtStreamedMessage
    stream_cancelled_response: CrdtStreamCancelledResponse
    failure: _entity_pb2.Failure
    def __init__(self, reply: _Optional[_Union[CrdtReply, _Mapping]] = ..., streamed_message: _Optional[_Union[CrdtStreamedMessage, _Mapping]] = ..., stream_cancelled_response: _Optional[_Union[CrdtStreamCancelledResponse, _Mapping]] = ..., failure: _Optional[_Union[_entity_pb2.Failure, _Mapping]] = ...) -> None: ...

class CrdtInit(_message.Message):
    __slots__ = ("service_name", "entity_id", "delta")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    entity_id: str
    delta: CrdtDelta
    def __init__(self, service_name: _Optional[str] = ..., entity_id: _Optional[str] = ..., delta: _Optional[_Union[CrdtDelta, _Mapping]] = ...) -> None: ...

class CrdtDelete(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

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
    __slots__ = ("update", "delete", "write_consistency")
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    WRITE_CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    update: CrdtDelta
    delete: CrdtDelete
    write_consistency: CrdtWriteConsistency
    def __init__(self, update: _Optional[_Union[CrdtDelta, _Mapping]] = ..., delete: _Optional[_Union[CrdtDelete, _Mapping]] = ..., write_consistency: _Optional[_Union[CrdtWriteConsistency, str]] = ...) -> None: ...

class CrdtStreamedMessage(_message.Message):
    __slots__ = ("command_id", "client_action", "side_effects", "end_stream")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ACTION_FIELD_NUMBER: _ClassVar[int]
    SIDE_EFFECTS_FIELD_NUMBER: _ClassVar[int]
    END_STREAM_FIELD_NUMBER: _ClassVar[int]
    command_id: int
    client_action: _entity_pb2.ClientAction
    side_effects: _containers.RepeatedCompositeFieldContainer[_entity_pb2.SideEffect]
    end_stream: bool
    def __init__(self, command_id: _Optional[int] = ..., client_action: _Optional[_Union[_entity_pb2.ClientAction, _Mapping]] = ..., side_effects: _Optional[_Iterable[_Union[_entity_pb2.SideEffect, _Mapping]]] = ..., end_stream: _Optional[bool] = ...) -> None: ...

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
    gcounter: GCounterDelta
    pncounter: PNCounterDelta
    gset: GSetDelta
    orset: ORSetDelta
    lwwregister: LWWRegisterDelta
    flag: FlagDelta
    ormap: ORMapDelta
    vote: VoteDelta
    def __init__(self, gcounter: _Optional[_Union[GCounterDelta, _Mapping]] = ..., pncounter: _Optional[_Union[PNCounterDelta, _Mapping]] = ..., gset: _Optional[_Union[GSetDelta, _Mapping]] = ..., orset: _Optional[_Union[ORSetDelta, _Mapping]] = ..., lwwregister: _Optional[_Union[LWWRegisterDelta, _Mapping]] = ..., flag: _Optional[_Union[FlagDelta, _Mapping]] = ..., ormap: _Optional[_Union[ORMapDelta, _Mapping]] = ..., vote: _Optional[_Union[VoteDelta, _Mapping]] = ...) -> None: ...

class GCounterDelta(_message.Message):
    __slots__ = ("increment",)
    INCREMENT_FIELD_NUMBER: _ClassVar[int]
    increment: int
    def __init__(self, increment: _Optional[int] = ...) -> None: ...

class PNCounterDelta(_message.Message):
    __slots__ = ("change",)
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    change: int
    def __init__(self, change: _Optional[int] = ...) -> None: ...

class GSetDelta(_message.Message):
    __slots__ = ("added",)
    ADDED_FIELD_NUMBER: _ClassVar[int]
    added: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    def __init__(self, added: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ...) -> None: ...

class ORSetDelta(_message.Message):
    __slots__ = ("cleared", "removed", "added")
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    cleared: bool
    removed: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    added: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    def __init__(self, cleared: _Optional[bool] = ..., removed: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ..., added: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ...) -> None: ...

class LWWRegisterDelta(_message.Message):
    __slots__ = ("value", "clock", "custom_clock_value")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_CLOCK_VALUE_FIELD_NUMBER: _ClassVar[int]
    value: _any_pb2.Any
    clock: CrdtClock
    custom_clock_value: int
    def __init__(self, value: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., clock: _Optional[_Union[CrdtClock, str]] = ..., custom_clock_value: _Optional[int] = ...) -> None: ...

class FlagDelta(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: bool
    def __init__(self, value: _Optional[bool] = ...) -> None: ...

class ORMapDelta(_message.Message):
    __slots__ = ("cleared", "removed", "updated", "added")
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    cleared: bool
    removed: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    updated: _containers.RepeatedCompositeFieldContainer[ORMapEntryDelta]
    added: _containers.RepeatedCompositeFieldContainer[ORMapEntryDelta]
    def __init__(self, cleared: _Optional[bool] = ..., removed: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ..., updated: _Optional[_Iterable[_Union[ORMapEntryDelta, _Mapping]]] = ..., added: _Optional[_Iterable[_Union[ORMapEntryDelta, _Mapping]]] = ...) -> None: ...

class ORMapEntryDelta(_message.Message):
    __slots__ = ("key", "delta")
    KEY_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    key: _any_pb2.Any
    delta: CrdtDelta
    def __init__(self, key: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., delta: _Optional[_Union[CrdtDelta, _Mapping]] = ...) -> None: ...

class VoteDelta(_message.Message):
    __slots__ = ("self_vote", "votes_for", "total_voters")
    SELF_VOTE_FIELD_NUMBER: _ClassVar[int]
    VOTES_FOR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_VOTERS_FIELD_NUMBER: _ClassVar[int]
    self_vote: bool
    votes_for: int
    total_voters: int
    def __init__(self, self_vote: _Optional[bool] = ..., votes_for: _Optional[int] = ..., total_voters: _Optional[int] = ...) -> None: ...
