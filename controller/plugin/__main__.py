"""`kubectl modelrollout ...` (console script `kubectl-modelrollout`): operate ModelRollouts.

kubectl runs any `kubectl-<name>` on PATH as `kubectl <name>`; see docs/plugin.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from controller.plugin.app import Terminal, run
from controller.plugin.cli import parse
from controller.plugin.errors import PluginError
from controller.plugin.kube import Cluster, connect
from controller.plugin.settings import PluginSettings


def _terminal(settings: PluginSettings) -> Terminal:
    interactive = sys.stdout.isatty()
    return Terminal(out=sys.stdout, interactive=interactive,
                    color=interactive and not settings.no_color)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    settings = PluginSettings.from_env()
    try:
        connection = connect(args.kubeconfig, args.context, settings.cluster_env)
        namespace = args.namespace or connection.namespace
        return run(args, Cluster(connection), namespace, _terminal(settings))
    except PluginError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C, above all in `status --watch`: a clean exit
        print(file=sys.stdout)
        return 0
    except BrokenPipeError:  # `... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
