"""Call the CRDT example through the proxy.

    python examples/crdts/client.py like post-1          # one more like
    python examples/crdts/client.py likes post-1         # the count
    python examples/crdts/client.py watch post-1         # the count, then every change (Ctrl-C)
    python examples/crdts/client.py connect lobby alice  # be online until Ctrl-C; prints who is
    python examples/crdts/client.py online lobby         # who is online
    python examples/crdts/client.py monitor lobby        # who is online, on every change (Ctrl-C)

``--port`` selects the proxy's port (default 9000); ``--seconds N`` ends a stream after N seconds.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from crdts import likes_pb2, likes_pb2_grpc, presence_pb2, presence_pb2_grpc


def follow(call: Any, seconds: float | None) -> Iterator[Any]:
    """The messages of a streamed call; cancels it after ``seconds`` (if given) or on Ctrl-C."""
    if seconds is not None:
        timer = threading.Timer(seconds, call.cancel)
        timer.daemon = True
        timer.start()
    try:
        yield from call
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.CANCELLED:
            raise
    except KeyboardInterrupt:
        call.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description="CRDT example client")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--seconds", type=float, help="end a stream after this many seconds")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("like", "like a post"),
        ("likes", "show a post's likes"),
        ("watch", "stream a post's likes"),
    ):
        commands.add_parser(name, help=help_text).add_argument("post_id")
    connect = commands.add_parser("connect", help="be online in a room while this runs")
    connect.add_argument("room")
    connect.add_argument("user")
    for name, help_text in (("online", "who is online"), ("monitor", "stream who is online")):
        commands.add_parser(name, help=help_text).add_argument("room")
    args = parser.parse_args()

    with grpc.insecure_channel(f"{args.host}:{args.port}") as channel:
        likes = likes_pb2_grpc.LikesStub(channel)
        presence = presence_pb2_grpc.PresenceStub(channel)
        try:
            if args.command == "like":
                count = likes.Like(likes_pb2.LikeRequest(post_id=args.post_id), timeout=10)
                print(f"{count.post_id}: {count.likes} like(s)")
            elif args.command == "likes":
                count = likes.GetLikes(likes_pb2.PostRequest(post_id=args.post_id), timeout=10)
                print(f"{count.post_id}: {count.likes} like(s)")
            elif args.command == "watch":
                call = likes.WatchLikes(likes_pb2.PostRequest(post_id=args.post_id))
                for count in follow(call, args.seconds):
                    print(f"{count.post_id}: {count.likes} like(s)", flush=True)
            elif args.command == "connect":
                request = presence_pb2.ConnectRequest(room=args.room, user=args.user)
                for users in follow(presence.Connect(request), args.seconds):
                    print(f"{users.room}: {', '.join(users.users) or 'nobody'}", flush=True)
            elif args.command == "online":
                users = presence.Online(presence_pb2.RoomRequest(room=args.room), timeout=10)
                print(f"{users.room}: {', '.join(users.users) or 'nobody'}")
            elif args.command == "monitor":
                call = presence.Monitor(presence_pb2.RoomRequest(room=args.room))
                for users in follow(call, args.seconds):
                    print(f"{users.room}: {', '.join(users.users) or 'nobody'}", flush=True)
        except grpc.RpcError as error:
            print(f"{error.code().name}: {error.details()}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
