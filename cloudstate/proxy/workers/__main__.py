"""A proxy worker process (started by :mod:`cloudstate.proxy.workers.supervisor`, not by hand):
the configuration comes from ``CLOUDSTATE_PROXY_WORKER_CONFIG``, its place in the group from
``CLOUDSTATE_PROXY_WORKER``."""

from __future__ import annotations

import json
import os
import sys

from cloudstate.proxy import cli, event_loop, logs
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.workers.supervisor import CONFIG_ENV


def main() -> None:
    config = ProxyConfig(**json.loads(os.environ[CONFIG_ENV]))
    logs.configure(config.log_level, config.log_format)
    from cloudstate.proxy.server import Proxy

    try:
        event_loop.run(Proxy(config).run_until_signalled())
    except KeyboardInterrupt:
        pass
    except cli.StartError as error:
        cli.exit_on_start_error("cloudstate proxy (worker)", error)
    sys.exit(0)


if __name__ == "__main__":
    main()
