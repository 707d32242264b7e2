import datetime

from google.protobuf import any_pb2 as _any_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from cloudstate.protocol import entity_pb2 as _entity_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOT_STARTED: _ClassVar[Status]
    RUNNING: _ClassVar[Status]
    WAITING: _ClassVar[Status]
    SUSPENDED: _ClassVar[Status]
    COMPLETED: _ClassVar[Status]
    FAILED: _ClassVar[Status]
    CANCELLED: _ClassVar[Status]
NOT_STARTED: Status
RUNNING: Status
WAITING: Status
SUSPENDED: Status
COMPLETED: Status
FAILED: Status
CANCELLED: Status

class DescribeWorkflow(_message.Message):
    __slots__ = ("service_name",)
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    def __init__(self, service_name: _Optional[str] = ...) -> None: ...

class WorkflowDefinition(_message.Message):
    __slots__ = ("service_name", "steps", "timeout", "timeout_step", "default_recovery")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_STEP_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RECOVERY_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    steps: _containers.RepeatedCompositeFieldContainer[StepDefinition]
    timeout: _duration_pb2.Duration
    timeout_step: str
    default_recovery: Recovery
    def __init__(self, service_name: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[StepDefinition, _Mapping]]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., timeout_step: _Optional[str] = ..., default_recovery: _Optional[_Union[Recovery, _Mapping]] = ...) -> None: ...

class StepDefinition(_message.Message):
    __slots__ = ("name", "timeout", "recovery")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_FIELD_NUMBER: _ClassVar[int]
    name: str
    timeout: _duration_pb2.Duration
    recovery: Recovery
    def __init__(self, name: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., recovery: _Optional[_Union[Recovery, _Mapping]] = ...) -> None: ...

class Recovery(_message.Message):
    __slots__ = ("max_attempts", "min_backoff", "max_backoff", "recover_step")
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MIN_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    RECOVER_STEP_FIELD_NUMBER: _ClassVar[int]
    max_attempts: int
    min_backoff: _duration_pb2.Duration
    max_backoff: _duration_pb2.Duration
    recover_step: str
    def __init__(self, max_attempts: _Optional[int] = ..., min_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., recover_step: _Optional[str] = ...) -> None: ...

class WorkflowView(_message.Message):
    __slots__ = ("workflow_id", "status", "state", "step", "transitions", "reason")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    status: Status
    state: _any_pb2.Any
    step: str
    transitions: int
    reason: str
    def __init__(self, workflow_id: _Optional[str] = ..., status: _Optional[_Union[Status, str]] = ..., state: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., step: _Optional[str] = ..., transitions: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class WorkflowCommand(_message.Message):
    __slots__ = ("service_name", "command", "workflow")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    command: _entity_pb2.Command
    workflow: WorkflowView
    def __init__(self, service_name: _Optional[str] = ..., command: _Optional[_Union[_entity_pb2.Command, _Mapping]] = ..., workflow: _Optional[_Union[WorkflowView, _Mapping]] = ...) -> None: ...

class WorkflowCommandReply(_message.Message):
    __slots__ = ("client_action", "side_effects", "effect")
    CLIENT_ACTION_FIELD_NUMBER: _ClassVar[int]
    SIDE_EFFECTS_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    client_action: _entity_pb2.ClientAction
    side_effects: _containers.RepeatedCompositeFieldContainer[_entity_pb2.SideEffect]
    effect: Effect
    def __init__(self, client_action: _Optional[_Union[_entity_pb2.ClientAction, _Mapping]] = ..., side_effects: _Optional[_Iterable[_Union[_entity_pb2.SideEffect, _Mapping]]] = ..., effect: _Optional[_Union[Effect, _Mapping]] = ...) -> None: ...

class Effect(_message.Message):
    __slots__ = ("state", "go_to", "pause", "end", "fail")
    STATE_FIELD_NUMBER: _ClassVar[int]
    GO_TO_FIELD_NUMBER: _ClassVar[int]
    PAUSE_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    FAIL_FIELD_NUMBER: _ClassVar[int]
    state: _any_pb2.Any
    go_to: Transition
    pause: Pause
    end: End
    fail: Fail
    def __init__(self, state: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., go_to: _Optional[_Union[Transition, _Mapping]] = ..., pause: _Optional[_Union[Pause, _Mapping]] = ..., end: _Optional[_Union[End, _Mapping]] = ..., fail: _Optional[_Union[Fail, _Mapping]] = ...) -> None: ...

class Transition(_message.Message):
    __slots__ = ("step", "input")
    STEP_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    step: str
    input: _any_pb2.Any
    def __init__(self, step: _Optional[str] = ..., input: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...

class Pause(_message.Message):
    __slots__ = ("timeout", "timeout_step")
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_STEP_FIELD_NUMBER: _ClassVar[int]
    timeout: _duration_pb2.Duration
    timeout_step: str
    def __init__(self, timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., timeout_step: _Optional[str] = ...) -> None: ...

class End(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Fail(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class StepRun(_message.Message):
    __slots__ = ("service_name", "workflow", "step", "input", "attempt", "step_key", "call_result")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STEP_KEY_FIELD_NUMBER: _ClassVar[int]
    CALL_RESULT_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    workflow: WorkflowView
    step: str
    input: _any_pb2.Any
    attempt: int
    step_key: str
    call_result: CallResult
    def __init__(self, service_name: _Optional[str] = ..., workflow: _Optional[_Union[WorkflowView, _Mapping]] = ..., step: _Optional[str] = ..., input: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., attempt: _Optional[int] = ..., step_key: _Optional[str] = ..., call_result: _Optional[_Union[CallResult, _Mapping]] = ...) -> None: ...

class CallResult(_message.Message):
    __slots__ = ("reply",)
    REPLY_FIELD_NUMBER: _ClassVar[int]
    reply: _any_pb2.Any
    def __init__(self, reply: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...

class StepReply(_message.Message):
    __slots__ = ("call", "effect", "failure", "side_effects")
    CALL_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    SIDE_EFFECTS_FIELD_NUMBER: _ClassVar[int]
    call: StepCall
    effect: Effect
    failure: StepFailure
    side_effects: _containers.RepeatedCompositeFieldContainer[_entity_pb2.SideEffect]
    def __init__(self, call: _Optional[_Union[StepCall, _Mapping]] = ..., effect: _Optional[_Union[Effect, _Mapping]] = ..., failure: _Optional[_Union[StepFailure, _Mapping]] = ..., side_effects: _Optional[_Iterable[_Union[_entity_pb2.SideEffect, _Mapping]]] = ...) -> None: ...

class StepCall(_message.Message):
    __slots__ = ("service_name", "command_name", "payload", "metadata")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    COMMAND_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    command_name: str
    payload: _any_pb2.Any
    metadata: _entity_pb2.Metadata
    def __init__(self, service_name: _Optional[str] = ..., command_name: _Optional[str] = ..., payload: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., metadata: _Optional[_Union[_entity_pb2.Metadata, _Mapping]] = ...) -> None: ...

class StepFailure(_message.Message):
    __slots__ = ("description",)
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    description: str
    def __init__(self, description: _Optional[str] = ...) -> None: ...

class WorkflowRecord(_message.Message):
    __slots__ = ("view", "input", "attempt", "started_at", "deadline", "last_error", "history", "pause_timeout_step", "pause_until", "suspended_from")
    VIEW_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    PAUSE_TIMEOUT_STEP_FIELD_NUMBER: _ClassVar[int]
    PAUSE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FROM_FIELD_NUMBER: _ClassVar[int]
    view: WorkflowView
    input: _any_pb2.Any
    attempt: int
    started_at: float
    deadline: float
    last_error: str
    history: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    pause_timeout_step: str
    pause_until: float
    suspended_from: Status
    def __init__(self, view: _Optional[_Union[WorkflowView, _Mapping]] = ..., input: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., attempt: _Optional[int] = ..., started_at: _Optional[float] = ..., deadline: _Optional[float] = ..., last_error: _Optional[str] = ..., history: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ..., pause_timeout_step: _Optional[str] = ..., pause_until: _Optional[float] = ..., suspended_from: _Optional[_Union[Status, str]] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("transition", "step", "started_at", "ended_at", "attempts", "outcome")
    TRANSITION_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    transition: int
    step: str
    started_at: float
    ended_at: float
    attempts: int
    outcome: str
    def __init__(self, transition: _Optional[int] = ..., step: _Optional[str] = ..., started_at: _Optional[float] = ..., ended_at: _Optional[float] = ..., attempts: _Optional[int] = ..., outcome: _Optional[str] = ...) -> None: ...
