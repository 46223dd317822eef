"""`python -m controller.router` / `modelrollout-router`: run the model router."""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import signal
from collections.abc import Sequence

from controller.router.service import RouterService
from controller.router.settings import RouterSettings, build_parser, settings_from


def raise_fd_limit(config: RouterSettings) -> None:
    """Raise the soft descriptor limit towards what --max-connections may need.

    Each client connection can hold one connection to a backend, and shadow copies hold more.
    Over the process's own limit uvloop can only reset new connections (nothing to count or
    answer), so the connection limit must bind first: warn when the hard limit is too low.
    """
    needed = 2 * config.limits.max_connections + config.proxy.max_shadow_inflight + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            logging.getLogger("modelrouter").warning(
                "descriptor limit %d is below the %d that --max-connections %d may need",
                target, needed, config.limits.max_connections)


async def serve(config: RouterSettings) -> None:
    raise_fd_limit(config)
    service = RouterService(config)
    await service.start()
    # Startup objects never die: keep them out of every future GC pass.
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await service.close()


def install_fast_loop() -> None:
    """uvloop when available: the router's throughput depends on it."""
    try:
        import uvloop
    except ImportError:
        logging.getLogger("modelrouter").warning("uvloop not installed; using asyncio's loop")
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_fast_loop()
    asyncio.run(serve(settings_from(args)))


if __name__ == "__main__":
    main()
