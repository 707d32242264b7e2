"""Like counters: one CRDT entity per post, holding a :class:`~cloudstate.crdt.GCounter`.

``Like`` increments, ``GetLikes`` reads, and ``WatchLikes`` is a *streamed command*: its reply is
the first message of the client's stream, and its ``on_change`` callback sends the new count after
every later change of the counter — whichever client (or proxy node) made it.
"""

from __future__ import annotations

from cloudstate import CrdtCommandContext, CrdtEntity, GCounter
from crdts.likes_pb2 import _LIKES, LikeCount, LikeRequest, PostRequest

#: The entity: a new post's counter starts at 0.
entity = CrdtEntity(_LIKES, [], GCounter, persistence_id="likes")


@entity.command_handler("Like")
def like(counter: GCounter, request: LikeRequest) -> LikeCount:
    counter.increment(1)
    return LikeCount(post_id=request.post_id, likes=counter.value)


@entity.command_handler("GetLikes")
def get_likes(counter: GCounter, request: PostRequest) -> LikeCount:
    return LikeCount(post_id=request.post_id, likes=counter.value)


@entity.command_handler("WatchLikes")
def watch_likes(counter: GCounter, request: PostRequest, ctx: CrdtCommandContext) -> LikeCount:
    if ctx.streamed:  # always, when called through the proxy as the stream it is

        @ctx.on_change
        def changed(counter: GCounter) -> LikeCount:
            return LikeCount(post_id=request.post_id, likes=counter.value)

    return LikeCount(post_id=request.post_id, likes=counter.value)
