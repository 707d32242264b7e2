"""The TCK model: protobuf services (generated ``*_pb2`` modules, from
``cloudstate/protos/cloudstate/tck/model/``) and their implementation with the Python SDK.

``python -m cloudstate.tck.model`` serves it (see :mod:`cloudstate.tck.model.server`).
"""
