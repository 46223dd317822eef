"""The built-in model router: sticky weighted split, shadow tee with prediction comparison,
per-variant telemetry, delayed-label feedback and fault injection (see docs/router.md).

Hot-path modules (server, upstream, proxy, targets, wire) import nothing from Kubernetes; a
Kubernetes table source plugs in through `controller.router.source.TableSource`.
"""
