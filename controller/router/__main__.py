"""`python -m controller.router` / `modelrollout-router`: run the model router."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Sequence

from controller.router.service import RouterService
from controller.router.settings import RouterSettings, build_parser, settings_from


async def serve(config: RouterSettings) -> None:
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
