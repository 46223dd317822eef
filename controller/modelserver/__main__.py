"""`python -m controller.modelserver --model PATH.joblib --port N [--name NAME]`: serve a model.

Defaults come from the environment so a container needs no arguments: MODEL_PATH (or
MODEL_URI as file:///...), MODEL_NAME, PORT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from controller.modelserver.model import ModelLoadError, load_model
from controller.modelserver.server import Settings, make_server
from controller.modelserver.settings import default_model_path, environment

log = logging.getLogger("controller.modelserver")


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="modelrollout-modelserver", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    model = default_model_path(env)
    p.add_argument("--model", type=Path, default=model, required=model is None,
                   help="joblib file with a fitted scikit-learn classifier")
    p.add_argument("--name", default=env.get("MODEL_NAME", "model"),
                   help="model name in the URL /v1/models/NAME (keep it equal across versions "
                        "so the router can send the same request to each)")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=int(env.get("PORT", "8080")))
    p.add_argument("--max-body-bytes", type=int, default=1 << 20)
    p.add_argument("--idle-timeout", type=float, default=75.0, help="keep-alive idle, seconds")
    p.add_argument("--access-log", action="store_true")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(environment()).parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    try:
        model = load_model(args.model)
    except ModelLoadError as error:
        print(f"modelserver: {error}", file=sys.stderr)
        return 1
    settings = Settings(name=args.name, max_body_bytes=args.max_body_bytes,
                        idle_timeout_seconds=args.idle_timeout, access_log=args.access_log)
    try:
        server = make_server(args.host, args.port, model, settings)
    except OSError as error:
        print(f"modelserver: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return, so it must run on another thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    log.info("serving %s (%d features) as %r on http://%s:%d/v1/models/%s:predict",
             args.model, model.n_features, args.name, host, port, args.name)
    with server:
        server.serve_forever(poll_interval=0.2)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
