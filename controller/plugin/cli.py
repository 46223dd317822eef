"""Arguments of `kubectl modelrollout` (pure: parsing only)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

# subcommand -> the annotation action it sends (promote --full sends promote-full)
COMMAND_HELP = {
    "promote": "promote the current step (--full: skip the remaining steps)",
    "abort": "roll the candidate back now; it is not tried again until retry",
    "pause": "hold the rollout at its current step",
    "resume": "continue a paused rollout",
    "retry": "try a rolled-back revision again",
}
DEFAULT_WAIT_SECONDS = 5.0

EPILOG = """examples:
  kubectl modelrollout list -A
  kubectl modelrollout status fraud-detector --watch
  kubectl modelrollout promote fraud-detector --full
  kubectl modelrollout report fraud-detector -o report.html
"""


def _connection_flags(parser: argparse.ArgumentParser, default: object) -> None:
    # on the top parser and each subparser, like kubectl; a subparser's SUPPRESS default
    # keeps a flag given before the subcommand
    parser.add_argument("--kubeconfig", default=default, metavar="PATH",
                        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    parser.add_argument("--context", default=default, help="kubeconfig context to use")
    parser.add_argument("-n", "--namespace", default=default,
                        help="namespace (default: the context's, else default)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl modelrollout", description="Operate ModelRollouts: watch, promote, abort.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _connection_flags(parser, None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    _connection_flags(common, argparse.SUPPRESS)

    listing = commands.add_parser("list", parents=[common], help="list ModelRollouts")
    listing.add_argument("-A", "--all-namespaces", action="store_true")

    status = commands.add_parser("status", parents=[common],
                                 help="revisions, step, weights, analysis, history")
    status.add_argument("name")
    status.add_argument("-w", "--watch", action="store_true",
                        help="redraw on every change until Ctrl-C")

    for action, text in COMMAND_HELP.items():
        command = commands.add_parser(action, parents=[common], help=text, description=text)
        command.add_argument("name")
        if action == "promote":
            command.add_argument("--full", action="store_true",
                                 help="promote to 100%% now, skipping the remaining steps")
        command.add_argument("--no-wait", action="store_true",
                             help="send the command and return without waiting")
        command.add_argument("--timeout", type=float, default=DEFAULT_WAIT_SECONDS,
                             metavar="SECONDS", help="how long to wait for the operator "
                                                     "(default %(default)s)")

    report = commands.add_parser("report", parents=[common], help="write an HTML report")
    report.add_argument("name")
    report.add_argument("-o", "--output", metavar="FILE",
                        help="file to write (default NAME-report.html; - for stdout)")
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def action_of(args: argparse.Namespace) -> str:
    """The annotation action a command subcommand sends."""
    return "promote-full" if args.command == "promote" and args.full else str(args.command)
