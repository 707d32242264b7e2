import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListServicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Service(_message.Message):
    __slots__ = ("name", "kind", "persistence_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PERSISTENCE_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    persistence_id: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., persistence_id: _Optional[str] = ...) -> None: ...

class ListServicesResponse(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[Service]
    def __init__(self, services: _Optional[_Iterable[_Union[Service, _Mapping]]] = ...) -> None: ...

class ListEntitiesRequest(_message.Message):
    __slots__ = ("service", "prefix", "page_size", "page_token")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    service: str
    prefix: str
    page_size: int
    page_token: str
    def __init__(self, service: _Optional[str] = ..., prefix: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEntitiesResponse(_message.Message):
    __slots__ = ("service", "entity_ids", "next_page_token")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENTITY_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    service: str
    entity_ids: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    def __init__(self, service: _Optional[str] = ..., entity_ids: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetEntityRequest(_message.Message):
    __slots__ = ("service", "entity_id", "limit")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    service: str
    entity_id: str
    limit: int
    def __init__(self, service: _Optional[str] = ..., entity_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("sequence", "type", "time", "data")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    type: str
    time: _timestamp_pb2.Timestamp
    data: _struct_pb2.Value
    def __init__(self, sequence: _Optional[int] = ..., type: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("sequence", "type", "data")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    type: str
    data: _struct_pb2.Value
    def __init__(self, sequence: _Optional[int] = ..., type: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("version", "type", "data")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    version: int
    type: str
    data: _struct_pb2.Value
    def __init__(self, version: _Optional[int] = ..., type: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("service", "entity_id", "kind", "found", "events_total", "events", "snapshot", "value", "active")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    EVENTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    service: str
    entity_id: str
    kind: str
    found: bool
    events_total: int
    events: _containers.RepeatedCompositeFieldContainer[Event]
    snapshot: Snapshot
    value: Value
    active: bool
    def __init__(self, service: _Optional[str] = ..., entity_id: _Optional[str] = ..., kind: _Optional[str] = ..., found: _Optional[bool] = ..., events_total: _Optional[int] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., snapshot: _Optional[_Union[Snapshot, _Mapping]] = ..., value: _Optional[_Union[Value, _Mapping]] = ..., active: _Optional[bool] = ...) -> None: ...

class ListConsumersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Consumer(_message.Message):
    __slots__ = ("consumer_id", "source", "kind", "offset", "head_offset", "pending", "lag_seconds", "delivered", "failures", "last_error", "parked", "view", "tables")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    HEAD_OFFSET_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    LAG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    PARKED_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    TABLES_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    source: str
    kind: str
    offset: int
    head_offset: int
    pending: int
    lag_seconds: float
    delivered: int
    failures: int
    last_error: str
    parked: int
    view: str
    tables: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, consumer_id: _Optional[str] = ..., source: _Optional[str] = ..., kind: _Optional[str] = ..., offset: _Optional[int] = ..., head_offset: _Optional[int] = ..., pending: _Optional[int] = ..., lag_seconds: _Optional[float] = ..., delivered: _Optional[int] = ..., failures: _Optional[int] = ..., last_error: _Optional[str] = ..., parked: _Optional[int] = ..., view: _Optional[str] = ..., tables: _Optional[_Iterable[str]] = ...) -> None: ...

class ListConsumersResponse(_message.Message):
    __slots__ = ("consumers",)
    CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    consumers: _containers.RepeatedCompositeFieldContainer[Consumer]
    def __init__(self, consumers: _Optional[_Iterable[_Union[Consumer, _Mapping]]] = ...) -> None: ...

class ListTimersRequest(_message.Message):
    __slots__ = ("prefix", "limit")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    limit: int
    def __init__(self, prefix: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("name", "key", "target", "due", "attempts", "last_error", "failed_at", "request_type", "request")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DUE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    name: str
    key: str
    target: str
    due: _timestamp_pb2.Timestamp
    attempts: int
    last_error: str
    failed_at: _timestamp_pb2.Timestamp
    request_type: str
    request: _struct_pb2.Value
    def __init__(self, name: _Optional[str] = ..., key: _Optional[str] = ..., target: _Optional[str] = ..., due: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., failed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_type: _Optional[str] = ..., request: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class ListTimersResponse(_message.Message):
    __slots__ = ("timers",)
    TIMERS_FIELD_NUMBER: _ClassVar[int]
    timers: _containers.RepeatedCompositeFieldContainer[Task]
    def __init__(self, timers: _Optional[_Iterable[_Union[Task, _Mapping]]] = ...) -> None: ...

class ListDeadLettersRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class ListDeadLettersResponse(_message.Message):
    __slots__ = ("dead_letters",)
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    dead_letters: _containers.RepeatedCompositeFieldContainer[Task]
    def __init__(self, dead_letters: _Optional[_Iterable[_Union[Task, _Mapping]]] = ...) -> None: ...

class RedriveDeadLettersRequest(_message.Message):
    __slots__ = ("name", "all")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    name: str
    all: bool
    def __init__(self, name: _Optional[str] = ..., all: _Optional[bool] = ...) -> None: ...

class RedriveDeadLettersResponse(_message.Message):
    __slots__ = ("redriven",)
    REDRIVEN_FIELD_NUMBER: _ClassVar[int]
    redriven: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, redriven: _Optional[_Iterable[str]] = ...) -> None: ...

class DropDeadLetterRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DropDeadLetterResponse(_message.Message):
    __slots__ = ("dropped",)
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    dropped: str
    def __init__(self, dropped: _Optional[str] = ...) -> None: ...

class DeleteEntityRequest(_message.Message):
    __slots__ = ("service", "entity_id")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    service: str
    entity_id: str
    def __init__(self, service: _Optional[str] = ..., entity_id: _Optional[str] = ...) -> None: ...

class DeleteEntityResponse(_message.Message):
    __slots__ = ("service", "entity_id", "tombstone_sequence", "purge_at")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    TOMBSTONE_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PURGE_AT_FIELD_NUMBER: _ClassVar[int]
    service: str
    entity_id: str
    tombstone_sequence: int
    purge_at: _timestamp_pb2.Timestamp
    def __init__(self, service: _Optional[str] = ..., entity_id: _Optional[str] = ..., tombstone_sequence: _Optional[int] = ..., purge_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListWorkflowsRequest(_message.Message):
    __slots__ = ("service", "page_size", "page_token")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    service: str
    page_size: int
    page_token: str
    def __init__(self, service: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class WorkflowSummary(_message.Message):
    __slots__ = ("workflow_id", "status", "step", "attempt", "transitions", "reason")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    status: str
    step: str
    attempt: int
    transitions: int
    reason: str
    def __init__(self, workflow_id: _Optional[str] = ..., status: _Optional[str] = ..., step: _Optional[str] = ..., attempt: _Optional[int] = ..., transitions: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ListWorkflowsResponse(_message.Message):
    __slots__ = ("service", "workflows", "next_page_token")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    service: str
    workflows: _containers.RepeatedCompositeFieldContainer[WorkflowSummary]
    next_page_token: str
    def __init__(self, service: _Optional[str] = ..., workflows: _Optional[_Iterable[_Union[WorkflowSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetWorkflowRequest(_message.Message):
    __slots__ = ("service", "workflow_id")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    service: str
    workflow_id: str
    def __init__(self, service: _Optional[str] = ..., workflow_id: _Optional[str] = ...) -> None: ...

class WorkflowHistoryEntry(_message.Message):
    __slots__ = ("transition", "step", "started_at", "ended_at", "attempts", "outcome")
    TRANSITION_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    transition: int
    step: str
    started_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    attempts: int
    outcome: str
    def __init__(self, transition: _Optional[int] = ..., step: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempts: _Optional[int] = ..., outcome: _Optional[str] = ...) -> None: ...

class Workflow(_message.Message):
    __slots__ = ("service", "workflow_id", "found", "status", "step", "transitions", "reason", "attempt", "last_error", "state_type", "state", "input_type", "input", "started_at", "deadline", "pause_until", "suspended_from", "history")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    STATE_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INPUT_TYPE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PAUSE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FROM_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    service: str
    workflow_id: str
    found: bool
    status: str
    step: str
    transitions: int
    reason: str
    attempt: int
    last_error: str
    state_type: str
    state: _struct_pb2.Value
    input_type: str
    input: _struct_pb2.Value
    started_at: _timestamp_pb2.Timestamp
    deadline: _timestamp_pb2.Timestamp
    pause_until: _timestamp_pb2.Timestamp
    suspended_from: str
    history: _containers.RepeatedCompositeFieldContainer[WorkflowHistoryEntry]
    def __init__(self, service: _Optional[str] = ..., workflow_id: _Optional[str] = ..., found: _Optional[bool] = ..., status: _Optional[str] = ..., step: _Optional[str] = ..., transitions: _Optional[int] = ..., reason: _Optional[str] = ..., attempt: _Optional[int] = ..., last_error: _Optional[str] = ..., state_type: _Optional[str] = ..., state: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., input_type: _Optional[str] = ..., input: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pause_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., suspended_from: _Optional[str] = ..., history: _Optional[_Iterable[_Union[WorkflowHistoryEntry, _Mapping]]] = ...) -> None: ...

class WorkflowControl(_message.Message):
    __slots__ = ("service", "workflow_id", "reason")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    service: str
    workflow_id: str
    reason: str
    def __init__(self, service: _Optional[str] = ..., workflow_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DescribeServicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MethodDescription(_message.Message):
    __slots__ = ("name", "input_type", "output_type", "client_streaming", "server_streaming", "http_routes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_STREAMING_FIELD_NUMBER: _ClassVar[int]
    SERVER_STREAMING_FIELD_NUMBER: _ClassVar[int]
    HTTP_ROUTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    input_type: str
    output_type: str
    client_streaming: bool
    server_streaming: bool
    http_routes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., input_type: _Optional[str] = ..., output_type: _Optional[str] = ..., client_streaming: _Optional[bool] = ..., server_streaming: _Optional[bool] = ..., http_routes: _Optional[_Iterable[str]] = ...) -> None: ...

class ServiceDescription(_message.Message):
    __slots__ = ("name", "kind", "persistence_id", "methods")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PERSISTENCE_ID_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    persistence_id: str
    methods: _containers.RepeatedCompositeFieldContainer[MethodDescription]
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., persistence_id: _Optional[str] = ..., methods: _Optional[_Iterable[_Union[MethodDescription, _Mapping]]] = ...) -> None: ...

class FieldSchema(_message.Message):
    __slots__ = ("name", "json_name", "type", "type_name", "repeated", "map", "enum_values")
    NAME_FIELD_NUMBER: _ClassVar[int]
    JSON_NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    REPEATED_FIELD_NUMBER: _ClassVar[int]
    MAP_FIELD_NUMBER: _ClassVar[int]
    ENUM_VALUES_FIELD_NUMBER: _ClassVar[int]
    name: str
    json_name: str
    type: str
    type_name: str
    repeated: bool
    map: bool
    enum_values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., json_name: _Optional[str] = ..., type: _Optional[str] = ..., type_name: _Optional[str] = ..., repeated: _Optional[bool] = ..., map: _Optional[bool] = ..., enum_values: _Optional[_Iterable[str]] = ...) -> None: ...

class MessageSchema(_message.Message):
    __slots__ = ("name", "fields")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    fields: _containers.RepeatedCompositeFieldContainer[FieldSchema]
    def __init__(self, name: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[FieldSchema, _Mapping]]] = ...) -> None: ...

class DescribeServicesResponse(_message.Message):
    __slots__ = ("services", "messages")
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[ServiceDescription]
    messages: _containers.RepeatedCompositeFieldContainer[MessageSchema]
    def __init__(self, services: _Optional[_Iterable[_Union[ServiceDescription, _Mapping]]] = ..., messages: _Optional[_Iterable[_Union[MessageSchema, _Mapping]]] = ...) -> None: ...

class CallMethodRequest(_message.Message):
    __slots__ = ("service", "method", "request")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    service: str
    method: str
    request: _struct_pb2.Value
    def __init__(self, service: _Optional[str] = ..., method: _Optional[str] = ..., request: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class CallMethodReply(_message.Message):
    __slots__ = ("reply",)
    REPLY_FIELD_NUMBER: _ClassVar[int]
    reply: _struct_pb2.Value
    def __init__(self, reply: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class GetMetricsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LatencyBucket(_message.Message):
    __slots__ = ("le", "count")
    LE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    le: float
    count: int
    def __init__(self, le: _Optional[float] = ..., count: _Optional[int] = ...) -> None: ...

class MethodMetrics(_message.Message):
    __slots__ = ("service", "method", "requests", "errors", "observed", "latency_seconds_sum", "latency")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_FIELD_NUMBER: _ClassVar[int]
    LATENCY_SECONDS_SUM_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    service: str
    method: str
    requests: int
    errors: int
    observed: int
    latency_seconds_sum: float
    latency: _containers.RepeatedCompositeFieldContainer[LatencyBucket]
    def __init__(self, service: _Optional[str] = ..., method: _Optional[str] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., observed: _Optional[int] = ..., latency_seconds_sum: _Optional[float] = ..., latency: _Optional[_Iterable[_Union[LatencyBucket, _Mapping]]] = ...) -> None: ...

class ActiveEntities(_message.Message):
    __slots__ = ("service", "entity_type", "active")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    service: str
    entity_type: str
    active: int
    def __init__(self, service: _Optional[str] = ..., entity_type: _Optional[str] = ..., active: _Optional[int] = ...) -> None: ...

class GetMetricsResponse(_message.Message):
    __slots__ = ("time", "methods", "entities", "store_commits", "store_commit_seconds_sum", "store_commit", "requests_in_flight")
    TIME_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    STORE_COMMITS_FIELD_NUMBER: _ClassVar[int]
    STORE_COMMIT_SECONDS_SUM_FIELD_NUMBER: _ClassVar[int]
    STORE_COMMIT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    methods: _containers.RepeatedCompositeFieldContainer[MethodMetrics]
    entities: _containers.RepeatedCompositeFieldContainer[ActiveEntities]
    store_commits: int
    store_commit_seconds_sum: float
    store_commit: _containers.RepeatedCompositeFieldContainer[LatencyBucket]
    requests_in_flight: int
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., methods: _Optional[_Iterable[_Union[MethodMetrics, _Mapping]]] = ..., entities: _Optional[_Iterable[_Union[ActiveEntities, _Mapping]]] = ..., store_commits: _Optional[int] = ..., store_commit_seconds_sum: _Optional[float] = ..., store_commit: _Optional[_Iterable[_Union[LatencyBucket, _Mapping]]] = ..., requests_in_flight: _Optional[int] = ...) -> None: ...

class ListParkedMessagesRequest(_message.Message):
    __slots__ = ("consumer_id", "limit")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    limit: int
    def __init__(self, consumer_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ParkedMessage(_message.Message):
    __slots__ = ("consumer_id", "offset", "key", "what", "type", "data", "metadata", "attempts", "last_error", "failed_at", "redrive")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    WHAT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    REDRIVE_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    offset: int
    key: str
    what: str
    type: str
    data: _struct_pb2.Value
    metadata: _containers.ScalarMap[str, str]
    attempts: int
    last_error: str
    failed_at: _timestamp_pb2.Timestamp
    redrive: bool
    def __init__(self, consumer_id: _Optional[str] = ..., offset: _Optional[int] = ..., key: _Optional[str] = ..., what: _Optional[str] = ..., type: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., failed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., redrive: _Optional[bool] = ...) -> None: ...

class ListParkedMessagesResponse(_message.Message):
    __slots__ = ("parked",)
    PARKED_FIELD_NUMBER: _ClassVar[int]
    parked: _containers.RepeatedCompositeFieldContainer[ParkedMessage]
    def __init__(self, parked: _Optional[_Iterable[_Union[ParkedMessage, _Mapping]]] = ...) -> None: ...

class RedriveParkedMessagesRequest(_message.Message):
    __slots__ = ("consumer_id", "offset", "all")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    offset: int
    all: bool
    def __init__(self, consumer_id: _Optional[str] = ..., offset: _Optional[int] = ..., all: _Optional[bool] = ...) -> None: ...

class DiscardParkedMessagesRequest(_message.Message):
    __slots__ = ("consumer_id", "offset", "all")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    offset: int
    all: bool
    def __init__(self, consumer_id: _Optional[str] = ..., offset: _Optional[int] = ..., all: _Optional[bool] = ...) -> None: ...

class ParkedMessagesChanged(_message.Message):
    __slots__ = ("consumer_id", "offsets")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSETS_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    offsets: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, consumer_id: _Optional[str] = ..., offsets: _Optional[_Iterable[int]] = ...) -> None: ...

class ResetConsumerRequest(_message.Message):
    __slots__ = ("consumer_id", "beginning", "time", "offset")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    BEGINNING_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    beginning: bool
    time: _timestamp_pb2.Timestamp
    offset: int
    def __init__(self, consumer_id: _Optional[str] = ..., beginning: _Optional[bool] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., offset: _Optional[int] = ...) -> None: ...

class ResetConsumerResponse(_message.Message):
    __slots__ = ("consumer_id", "offset", "generation")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    offset: int
    generation: int
    def __init__(self, consumer_id: _Optional[str] = ..., offset: _Optional[int] = ..., generation: _Optional[int] = ...) -> None: ...

class RebuildViewRequest(_message.Message):
    __slots__ = ("consumer_id", "service", "table")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    service: str
    table: str
    def __init__(self, consumer_id: _Optional[str] = ..., service: _Optional[str] = ..., table: _Optional[str] = ...) -> None: ...

class RebuildViewResponse(_message.Message):
    __slots__ = ("consumer_id", "tables", "generation")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    TABLES_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    tables: _containers.RepeatedScalarFieldContainer[str]
    generation: int
    def __init__(self, consumer_id: _Optional[str] = ..., tables: _Optional[_Iterable[str]] = ..., generation: _Optional[int] = ...) -> None: ...

class ListViewRebuildsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ViewRebuild(_message.Message):
    __slots__ = ("consumer_id", "view", "tables", "generation", "offset", "head_offset", "pending", "lag_seconds", "started")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    TABLES_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    HEAD_OFFSET_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    LAG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    view: str
    tables: _containers.RepeatedScalarFieldContainer[str]
    generation: int
    offset: int
    head_offset: int
    pending: int
    lag_seconds: float
    started: _timestamp_pb2.Timestamp
    def __init__(self, consumer_id: _Optional[str] = ..., view: _Optional[str] = ..., tables: _Optional[_Iterable[str]] = ..., generation: _Optional[int] = ..., offset: _Optional[int] = ..., head_offset: _Optional[int] = ..., pending: _Optional[int] = ..., lag_seconds: _Optional[float] = ..., started: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListViewRebuildsResponse(_message.Message):
    __slots__ = ("rebuilds",)
    REBUILDS_FIELD_NUMBER: _ClassVar[int]
    rebuilds: _containers.RepeatedCompositeFieldContainer[ViewRebuild]
    def __init__(self, rebuilds: _Optional[_Iterable[_Union[ViewRebuild, _Mapping]]] = ...) -> None: ...
