from cloudstate import entity_key_pb2 as _entity_key_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UpdateWriteConsistency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOCAL: _ClassVar[UpdateWriteConsistency]
    MAJORITY: _ClassVar[UpdateWriteConsistency]
    ALL: _ClassVar[UpdateWriteConsistency]

class LWWRegisterClockType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEFAULT: _ClassVar[LWWRegisterClockType]
    REVERSE: _ClassVar[LWWRegisterClockType]
    CUSTOM: _ClassVar[LWWRegisterClockType]
    CUSTOM_AUTO_INCREMENT: _ClassVar[LWWRegisterClockType]
LOCAL: UpdateWriteConsistency
MAJORITY: UpdateWriteConsistency
ALL: UpdateWriteConsistency
DEFAULT: LWWRegisterClockType
REVERSE: LWWRegisterClockType
CUSTOM: LWWRegisterClockType
CUSTOM_AUTO_INCREMENT: LWWRegisterClockType

class Request(_message.Message):
    __slots__ = ("id", "actions")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    id: str
    actions: _containers.RepeatedCompositeFieldContainer[RequestAction]
    def __init__(self, id: _Optional[str] = ..., actions: _Optional[_Iterable[_Union[RequestAction, _Mapping]]] = ...) -> None: ...

class StreamedRequest(_message.Message):
    __slots__ = ("id", "end_state", "cancel_update", "effects", "initial_update", "empty")
    ID_FIELD_NUMBER: _ClassVar[int]
    END_STATE_FIELD_NUMBER: _ClassVar[int]
    CANCEL_UPDATE_FIELD_NUMBER: _ClassVar[int]
    EFFECTS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_UPDATE_FIELD_NUMBER: _ClassVar[int]
    EMPTY_FIELD_NUMBER: _ClassVar[int]
    id: str
    end_state: State
    cancel_update: Update
    effects: _containers.RepeatedCompositeFieldContainer[Effect]
    initial_update: Update
    empty: bool
    def __init__(self, id: _Optional[str] = ..., end_state: _Optional[_Union[State, _Mapping]] = ..., cancel_update: _Optional[_Union[Update, _Mapping]] = ..., effects: _Optional[_Iterable[_Union[Effect, _Mapping]]] = ..., initial_update: _Optional[_Union[Update, _Mapping]] = ..., empty: _Optional[bool] = ...) -> None: ...

class RequestAction(_message.Message):
    __slots__ = ("update", "delete", "forward", "fail", "effect")
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    FORWARD_FIELD_NUMBER: _ClassVar[int]
    FAIL_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    update: Update
    delete: Delete
    forward: Forward
    fail: Fail
    effect: Effect
    def __init__(self, update: _Optional[_Union[Update, _Mapping]] = ..., delete: _Optional[_Union[Delete, _Mapping]] = ..., forward: _Optional[_Union[Forward, _Mapping]] = ..., fail: _Optional[_Union[Fail, _Mapping]] = ..., effect: _Optional[_Union[Effect, _Mapping]] = ...) -> None: ...

class Update(_message.Message):
    __slots__ = ("gcounter", "pncounter", "gset", "orset", "lwwregister", "flag", "ormap", "vote", "write_consistency")
    GCOUNTER_FIELD_NUMBER: _ClassVar[int]
    PNCOUNTER_FIELD_NUMBER: _ClassVar[int]
    GSET_FIELD_NUMBER: _ClassVar[int]
    ORSET_FIELD_NUMBER: _ClassVar[int]
    LWWREGISTER_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    ORMAP_FIELD_NUMBER: _ClassVar[int]
    VOTE_FIELD_NUMBER: _ClassVar[int]
    WRITE_CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    gcounter: GCounterUpdate
    pncounter: PNCounterUpdate
    gset: GSetUpdate
    orset: ORSetUpdate
    lwwregister: LWWRegisterUpdate
    flag: FlagUpdate
    ormap: ORMapUpdate
    vote: VoteUpdate
    write_consistency: UpdateWriteConsistency
    def __init__(self, gcounter: _Optional[_Union[GCounterUpdate, _Mapping]] = ..., pncounter: _Optional[_Union[PNCounterUpdate, _Mapping]] = ..., gset: _Optional[_Union[GSetUpdate, _Mapping]] = ..., orset: _Optional[_Union[ORSetUpdate, _Mapping]] = ..., lwwregister: _Optional[_Union[LWWRegisterUpdate, _Mapping]] = ..., flag: _Optional[_Union[FlagUpdate, _Mapping]] = ..., ormap: _Optional[_Union[ORMapUpdate, _Mapping]] = ..., vote: _Optional[_Union[VoteUpdate, _Mapping]] = ..., write_consistency: _Optional[_Union[UpdateWriteConsistency, str]] = ...) -> None: ...

class GCounterUpdate(_message.Message):
    __slots__ = ("increment",)
    INCREMENT_FIELD_NUMBER: _ClassVar[int]
    increment: int
    def __init__(self, increment: _Optional[int] = ...) -> None: ...

class PNCounterUpdate(_message.Message):
    __slots__ = ("change",)
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    change: int
    def __init__(self, change: _Optional[int] = ...) -> None: ...

class GSetUpdate(_message.Message):
    __slots__ = ("add",)
    ADD_FIELD_NUMBER: _ClassVar[int]
    add: str
    def __init__(self, add: _Optional[str] = ...) -> None: ...

class ORSetUpdate(_message.Message):
    __slots__ = ("add", "remove", "clear")
    ADD_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    CLEAR_FIELD_NUMBER: _ClassVar[int]
    add: str
    remove: str
    clear: bool
    def __init__(self, add: _Optional[str] = ..., remove: _Optional[str] = ..., clear: _Optional[bool] = ...) -> None: ...

class LWWRegisterUpdate(_message.Message):
    __slots__ = ("value", "clock")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    value: str
    clock: LWWRegisterClock
    def __init__(self, value: _Optional[str] = ..., clock: _Optional[_Union[LWWRegisterClock, _Mapping]] = ...) -> None: ...

class LWWRegisterClock(_message.Message):
    __slots__ = ("clockType", "customClockValue")
    CLOCKTYPE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMCLOCKVALUE_FIELD_NUMBER: _ClassVar[int]
    clockType: LWWRegisterClockType
    customClockValue: int
    def __init__(self, clockType: _Optional[_Union[LWWRegisterClockType, str]] = ..., customClockValue: _Optional[int] = ...) -> None: ...

class FlagUpdate(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ORMapUpdate(_message.Message):
    __slots__ = ("add", "update", "remove", "clear")
    ADD_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    CLEAR_FIELD_NUMBER: _ClassVar[int]
    add: str
    update: ORMapEntryUpdate
    remove: str
    clear: bool
    def __init__(self, add: _Optional[str] = ..., update: _Optional[_Union[ORMapEntryUpdate, _Mapping]] = ..., remove: _Optional[str] = ..., clear: _Optional[bool] = ...) -> None: ...

class ORMapEntryUpdate(_message.Message):
    __slots__ = ("key", "update")
    KEY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    key: str
    update: Update
    def __init__(self, key: _Optional[str] = ..., update: _Optional[_Union[Update, _Mapping]] = ...) -> None: ...

class VoteUpdate(_message.Message):
    __slots__ = ("self_vote",)
    SELF_VOTE_FIELD_NUMBER: _ClassVar[int]
    self_vote: bool
    def __init__(self, self_vote: _Optional[bool] = ...) -> None: ...

class Delete(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Forward(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class Fail(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class Effect(_message.Message):
    __slots__ = ("id", "synchronous")
    ID_FIELD_NUMBER: _ClassVar[int]
    SYNCHRONOUS_FIELD_NUMBER: _ClassVar[int]
    id: str
    synchronous: bool
    def __init__(self, id: _Optional[str] = ..., synchronous: _Optional[bool] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: State
    def __init__(self, state: _Optional[_Union[State, _Mapping]] = ...) -> None: ...

class State(_message.Message):
    __slots__ = ("gcounter", "pncounter", "gset", "orset", "lwwregister", "flag", "ormap", "vote")
    GCOUNTER_FIELD_NUMBER: _ClassVar[int]
    PNCOUNTER_FIELD_NUMBER: _ClassVar[int]
    GSET_FIELD_NUMBER: _ClassVar[int]
    ORSET_FIELD_NUMBER: _ClassVar[int]
    LWWREGISTER_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    ORMAP_FIELD_NUMBER: _ClassVar[int]
    VOTE_FIELD_NUMBER: _ClassVar[int]
    gcounter: GCounterValue
    pncounter: PNCounterValue
    gset: GSetValue
    orset: ORSetValue
    lwwregister: LWWRegisterValue
    flag: FlagValue
    ormap: ORMapValue
    vote: VoteValue
    def __init__(self, gcounter: _Optional[_Union[GCounterValue, _Mapping]] = ..., pncounter: _Optional[_Union[PNCounterValue, _Mapping]] = ..., gset: _Optional[_Union[GSetValue, _Mapping]] = ..., orset: _Optional[_Union[ORSetValue, _Mapping]] = ..., lwwregister: _Optional[_Union[LWWRegisterValue, _Mapping]] = ..., flag: _Optional[_Union[FlagValue, _Mapping]] = ..., ormap: _Optional[_Union[ORMapValue, _Mapping]] = ..., vote: _Optional[_Union[VoteValue, _Mapping]] = ...) -> None: ...

class GCounterValue(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: int
    def __init__(self, value: _Optional[int] = ...) -> None: ...

class PNCounterValue(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: int
    def __init__(self, value: _Optional[int] = ...) -> None: ...

class GSetValue(_message.Message):
    __slots__ = ("elements",)
    ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    elements: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, elements: _Optional[_Iterable[str]] = ...) -> None: ...

class ORSetValue(_message.Message):
    __slots__ = ("elements",)
    ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    elements: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, elements: _Optional[_Iterable[str]] = ...) -> None: ...

class LWWRegisterValue(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: str
    def __init__(self, value: _Optional[str] = ...) -> None: ...

class FlagValue(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: bool
    def __init__(self, value: _Optional[bool] = ...) -> None: ...

class ORMapValue(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ORMapEntryValue]
    def __init__(self, entries: _Optional[_Iterable[_Union[ORMapEntryValue, _Mapping]]] = ...) -> None: ...

class ORMapEntryValue(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: State
    def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[State, _Mapping]] = ...) -> None: ...

class VoteValue(_message.Message):
    __slots__ = ("self_vote", "votes_for", "total_voters")
    SELF_VOTE_FIELD_NUMBER: _ClassVar[int]
    VOTES_FOR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_VOTERS_FIELD_NUMBER: _ClassVar[int]
    self_vote: bool
    votes_for: int
    total_voters: int
    def __init__(self, self_vote: _Optional[bool] = ..., votes_for: _Optional[int] = ..., total_voters: _Optional[int] = ...) -> None: ...
