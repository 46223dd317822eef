"""`python -m controller.router` / `modelrouter-router`: run the model router."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
from collections.abc import Sequence

from controller.router.proxy import ProxySettings
from controller.router.server import Limits
from controller.router.service import RouterConfig, RouterService
from controller.router.source import FileTableSource, TableSource


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not host:port")
    return host or "0.0.0.0", int(port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="modelrollout-router", description=__doc__)
    p.add_argument("--listen", type=_address, default=("0.0.0.0", 8080), help="serving host:port")
    p.add_argument("--admin", type=_address, default=("0.0.0.0", 9090),
                   help="admin/metrics host:port")
    p.add_argument("--table-file", help="routing table file (JSON or YAML), watched")
    p.add_argument("--table-configmap", metavar="NAMESPACE/NAME",
                   help="watch the routing table in this ConfigMap (key table.json)")
    p.add_argument("--max-body-bytes", type=int, default=1 << 20)
    p.add_argument("--max-headers", type=int, default=100)
    p.add_argument("--max-header-bytes", type=int, default=16 << 10)
    p.add_argument("--idle-timeout", type=float, default=75.0, help="client keep-alive, s")
    p.add_argument("--read-timeout", type=float, default=30.0, help="to receive a request, s")
    p.add_argument("--backend-timeout", type=float, default=30.0, help="s")
    p.add_argument("--shadow-timeout", type=float, default=5.0, help="s")
    p.add_argument("--max-shadow-inflight", type=int, default=256)
    p.add_argument("--feedback-path", default="/feedback")
    p.add_argument("--feedback-max-entries", type=int, default=1_000_000)
    p.add_argument("--feedback-ttl", type=float, default=86_400.0, help="s")
    p.add_argument("--log-level", default="INFO")
    return p


def config_from(args: argparse.Namespace) -> RouterConfig:
    sources: list[TableSource] = []
    if args.table_file:
        sources.append(FileTableSource(args.table_file))
    if args.table_configmap:
        from controller.router.source_kube import ConfigMapTableSource

        namespace, _, name = args.table_configmap.partition("/")
        sources.append(ConfigMapTableSource(namespace, name))
    return RouterConfig(
        host=args.listen[0], port=args.listen[1],
        admin_host=args.admin[0], admin_port=args.admin[1],
        limits=Limits(args.max_body_bytes, args.max_headers, args.max_header_bytes,
                      args.idle_timeout, args.read_timeout),
        proxy=ProxySettings(args.backend_timeout, args.shadow_timeout, args.max_shadow_inflight,
                            args.feedback_path.encode()),
        feedback_max_entries=args.feedback_max_entries,
        feedback_ttl_s=args.feedback_ttl,
        sources=sources,
    )


async def serve(config: RouterConfig) -> None:
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
    asyncio.run(serve(config_from(args)))


if __name__ == "__main__":
    main()
