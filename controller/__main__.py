"""`python -m controller`: run the ModelRollout operator against the current kubeconfig."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from datetime import UTC, datetime

import kopf

from controller.operator.settings import METRICS_ADDRESS_ENV, OperatorSettings, SettingsError


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="modelrollout-operator", description=__doc__)
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[],
                       help="watch this namespace (repeatable); default: all namespaces")
    scope.add_argument("-A", "--all-namespaces", action="store_true")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--liveness", metavar="URL",
                        help="serve a liveness probe, e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--metrics", metavar="HOST:PORT",
                        help="serve Prometheus metrics at http://HOST:PORT/metrics "
                             f"(default: ${METRICS_ADDRESS_ENV})")
    return parser.parse_args(argv)


def setup_logging(log_format: str, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        handlers=[handler], force=True)
    if not verbose:  # kopf logs every handler run; our Events and warnings say what matters
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.log_format, args.verbose)
    try:
        settings = OperatorSettings.from_env()
    except SettingsError as error:
        print(f"modelrollout-operator: {error}", file=sys.stderr)
        return 2
    if args.metrics:
        settings = replace(settings, metrics_address=args.metrics)
    import controller.operator.handlers  # noqa: F401  (registers the handlers)

    kopf_settings = kopf.OperatorSettings()
    # Named namespaces are served as given: kopf lists no namespaces and watches no CRDs, so a
    # namespaced install needs nothing cluster-wide (denied them, kopf would retry for a minute
    # before it starts). All namespaces: kopf follows CRD changes (the ClusterRole allows it).
    kopf_settings.scanning.disabled = bool(args.namespace)
    kopf.run(
        settings=kopf_settings,
        memo=kopf.Memo(settings=settings),
        standalone=True,  # one active replica; no peering CRD needed
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
