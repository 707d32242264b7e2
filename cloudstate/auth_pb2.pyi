from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
AUTH_FIELD_NUMBER: _ClassVar[int]
auth: _descriptor.FieldDescriptor
SERVICE_AUTH_FIELD_NUMBER: _ClassVar[int]
service_auth: _descriptor.FieldDescriptor

class Auth(_message.Message):
    __slots__ = ("allow_anonymous", "require", "internal")
    ALLOW_ANONYMOUS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    allow_anonymous: bool
    require: _containers.RepeatedCompositeFieldContainer[ClaimRule]
    internal: bool
    def __init__(self, allow_anonymous: _Optional[bool] = ..., require: _Optional[_Iterable[_Union[ClaimRule, _Mapping]]] = ..., internal: _Optional[bool] = ...) -> None: ...

class ClaimRule(_message.Message):
    __slots__ = ("claim", "value")
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    claim: str
    value: str
    def __init__(self, claim: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
