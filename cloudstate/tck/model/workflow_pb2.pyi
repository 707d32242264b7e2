from cloudstate import entity_key_pb2 as _entity_key_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Request(_message.Message):
    __slots__ = ("id", "effect", "fail")
    ID_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    FAIL_FIELD_NUMBER: _ClassVar[int]
    id: str
    effect: Effect
    fail: str
    def __init__(self, id: _Optional[str] = ..., effect: _Optional[_Union[Effect, _Mapping]] = ..., fail: _Optional[str] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("state", "status", "step", "transitions", "workflow_id")
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    state: str
    status: str
    step: str
    transitions: int
    workflow_id: str
    def __init__(self, state: _Optional[str] = ..., status: _Optional[str] = ..., step: _Optional[str] = ..., transitions: _Optional[int] = ..., workflow_id: _Optional[str] = ...) -> None: ...

class State(_message.Message):
    __slots__ = ("value", "then", "call_again")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    THEN_FIELD_NUMBER: _ClassVar[int]
    CALL_AGAIN_FIELD_NUMBER: _ClassVar[int]
    value: str
    then: Effect
    call_again: bool
    def __init__(self, value: _Optional[str] = ..., then: _Optional[_Union[Effect, _Mapping]] = ..., call_again: _Optional[bool] = ...) -> None: ...

class Effect(_message.Message):
    __slots__ = ("set_state", "go_to", "pause", "end", "fail")
    SET_STATE_FIELD_NUMBER: _ClassVar[int]
    GO_TO_FIELD_NUMBER: _ClassVar[int]
    PAUSE_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    FAIL_FIELD_NUMBER: _ClassVar[int]
    set_state: State
    go_to: GoTo
    pause: Pause
    end: End
    fail: FailWorkflow
    def __init__(self, set_state: _Optional[_Union[State, _Mapping]] = ..., go_to: _Optional[_Union[GoTo, _Mapping]] = ..., pause: _Optional[_Union[Pause, _Mapping]] = ..., end: _Optional[_Union[End, _Mapping]] = ..., fail: _Optional[_Union[FailWorkflow, _Mapping]] = ...) -> None: ...

class GoTo(_message.Message):
    __slots__ = ("step", "input")
    STEP_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    step: str
    input: StepInput
    def __init__(self, step: _Optional[str] = ..., input: _Optional[_Union[StepInput, _Mapping]] = ...) -> None: ...

class Pause(_message.Message):
    __slots__ = ("timeout_millis", "timeout_step")
    TIMEOUT_MILLIS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_STEP_FIELD_NUMBER: _ClassVar[int]
    timeout_millis: int
    timeout_step: str
    def __init__(self, timeout_millis: _Optional[int] = ..., timeout_step: _Optional[str] = ...) -> None: ...

class End(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FailWorkflow(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class StepInput(_message.Message):
    __slots__ = ("fail_attempts", "call", "effect", "recovered")
    FAIL_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    RECOVERED_FIELD_NUMBER: _ClassVar[int]
    fail_attempts: int
    call: ValueCall
    effect: Effect
    recovered: Effect
    def __init__(self, fail_attempts: _Optional[int] = ..., call: _Optional[_Union[ValueCall, _Mapping]] = ..., effect: _Optional[_Union[Effect, _Mapping]] = ..., recovered: _Optional[_Union[Effect, _Mapping]] = ...) -> None: ...

class ValueCall(_message.Message):
    __slots__ = ("entity_id", "value", "fail")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    FAIL_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    value: str
    fail: bool
    def __init__(self, entity_id: _Optional[str] = ..., value: _Optional[str] = ..., fail: _Optional[bool] = ...) -> None: ...
