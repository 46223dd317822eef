"""The router's settings: one frozen object, built from the command line in `main()`."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from controller.contract.metrics import DEFAULT_UNIT_BUCKETS, MAX_UNIT_BUCKETS
from controller.router.feedback import FeedbackSettings
from controller.router.limits import Limits
from controller.router.proxy import ProxySettings
from controller.router.source import FileTableSource, TableSource


@dataclass(frozen=True)
class RouterSettings:
    """Everything a router process is configured with; built once in `main()`."""

    host: str = "0.0.0.0"
    port: int = 8080
    admin_host: str = "0.0.0.0"
    admin_port: int = 9090
    limits: Limits = field(default_factory=Limits)
    proxy: ProxySettings = field(default_factory=ProxySettings)
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)
    token_keys_file: str | None = None  # prediction-token keys (a mounted Secret)
    max_idle_per_backend: int = 512
    sources: Sequence[TableSource] = field(default_factory=tuple)
    admin_token_file: str | None = None  # the bearer token /table needs (a mounted Secret)
    table_writes: bool = True  # PUT /table; off when the tables come from a ConfigMap



def _positive(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not host:port")
    return host or "0.0.0.0", int(port)


def _unit_buckets(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if not 2 <= value <= MAX_UNIT_BUCKETS:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer in 2..{MAX_UNIT_BUCKETS}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="modelrollout-router",
                                description="The model router: sticky weighted split, shadows, "
                                            "per-variant telemetry, feedback joins.")
    p.add_argument("--listen", type=_address, default=("0.0.0.0", 8080), help="serving host:port")
    p.add_argument("--admin", type=_address, default=("0.0.0.0", 9090),
                   help="admin/metrics host:port (not for clients: /table needs a token)")
    p.add_argument("--admin-token-file", metavar="PATH",
                   help="file with the bearer token that GET/PUT /table need (re-read when it "
                        "changes); without one /table is refused")
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
    p.add_argument("--token-keys-file", metavar="PATH",
                   help="JSON key ring that signs and verifies prediction tokens (the same on "
                        "every replica; re-read when it changes); without one a random key "
                        "of this process signs")
    p.add_argument("--token-validity", type=_positive, default=30 * 86_400.0,
                   help="s a label may come after its prediction")
    p.add_argument("--replay-filter-entries", type=_at_least_one, default=1_000_000,
                   help="token ids remembered against replays (about 170 bytes each)")
    p.add_argument("--late-shadow-entries", type=_at_least_one, default=100_000,
                   help="shadow answers that came after the primary's, kept for labels")
    p.add_argument("--late-shadow-ttl", type=_positive, default=3600.0, help="s")
    p.add_argument("--max-feedback-bytes", type=_at_least_one, default=64 << 10,
                   help="larger feedback bodies get 413")
    p.add_argument("--max-reward", type=_positive, default=1e12,
                   help="largest numeric reward accepted (rewards are >= 0)")
    p.add_argument("--unit-buckets", type=_unit_buckets, default=DEFAULT_UNIT_BUCKETS,
                   help="hashed unit buckets per variant in the request metrics (the "
                        f"analysis's unit-level variance; 2..{MAX_UNIT_BUCKETS})")
    p.add_argument("--log-level", default="INFO")
    # Hardening limits (docs/router.md, "Limits").
    p.add_argument("--header-timeout", type=float, default=10.0,
                   help="s from the first byte of a request to its complete head, then 408")
    p.add_argument("--max-connections", type=int, default=4096,
                   help="client connections per listening port; more get 503 and are closed")
    p.add_argument("--max-json-depth", type=int, default=64,
                   help="nesting of client JSON (feedback, PUT /table); deeper gets 400")
    p.add_argument("--max-stored-response-bytes", type=int, default=1 << 20,
                   help="larger backend answers are streamed, not stored nor compared")
    p.add_argument("--stream-buffer-bytes", type=int, default=256 << 10,
                   help="client write buffer above which a streamed answer pauses the backend")
    return p


def settings_from(args: argparse.Namespace) -> RouterSettings:
    """The one settings object of a router process, from its command line."""
    sources: list[TableSource] = []
    if args.table_file:
        sources.append(FileTableSource(args.table_file))
    if args.table_configmap:
        from controller.router.source_kube import ConfigMapTableSource

        namespace, _, name = args.table_configmap.partition("/")
        sources.append(ConfigMapTableSource(namespace, name))
    return RouterSettings(
        host=args.listen[0], port=args.listen[1],
        admin_host=args.admin[0], admin_port=args.admin[1],
        limits=Limits(args.max_body_bytes, args.max_headers, args.max_header_bytes,
                      args.idle_timeout, args.read_timeout, args.header_timeout,
                      args.max_connections),
        proxy=ProxySettings(args.backend_timeout, args.shadow_timeout, args.max_shadow_inflight,
                            args.feedback_path.encode(), args.max_json_depth,
                            args.max_stored_response_bytes, args.stream_buffer_bytes,
                            args.unit_buckets),
        feedback=FeedbackSettings(
            token_validity_s=args.token_validity,
            replay_filter_entries=args.replay_filter_entries,
            late_shadow_entries=args.late_shadow_entries,
            late_shadow_ttl_s=args.late_shadow_ttl,
            max_feedback_bytes=args.max_feedback_bytes,
            max_reward=args.max_reward,
            unit_buckets=args.unit_buckets),
        token_keys_file=args.token_keys_file,
        sources=sources,
        admin_token_file=args.admin_token_file,
        # The ConfigMap is then the only source: no client may push a table beside it.
        table_writes=not args.table_configmap,
    )
