"""nginx configurations for the router benchmark: fixed-JSON backends, and a proxy that splits
with split_clients on x-user-id and tees with mirror, one worker process each."""

from __future__ import annotations

from pathlib import Path

WEIGHT_PERCENT = 10


def nginx_common(work: Path, name: str) -> str:
    return (
        f"worker_processes 1;\npid {work}/{name}.pid;\nerror_log {work}/{name}.err warn;\n"
        "events { worker_connections 4096; }\n"
    )


def backends_conf(work: Path, ports: dict[str, int]) -> str:
    servers = []
    answer = '{{"predictions":[{{"label":"{}","score":0.75}}]}}'
    for label, port in (("cat", ports["stable"]), ("dog", ports["candidate"]),
                        ("cat", ports["shadow"])):
        servers.append(
            f"  server {{ listen 127.0.0.1:{port} reuseport; keepalive_requests 1000000;\n"
            f"    location / {{ default_type application/json;\n"
            f"      return 200 '{answer.format(label)}'; }} }}"
        )
    return (
        nginx_common(work, "backends")
        + f"http {{ access_log off; client_body_temp_path {work}/bb;\n"
        + "\n".join(servers) + "\n}\n"
    )


def proxy_conf(work: Path, ports: dict[str, int]) -> str:
    def upstream(name: str) -> str:
        return (f"  upstream {name} {{ server 127.0.0.1:{ports[name]}; keepalive 128;"
                " keepalive_requests 1000000; }\n")

    proxy = ("proxy_http_version 1.1; proxy_set_header Connection \"\"; "
             "proxy_pass http://$variant;")
    return (
        nginx_common(work, "proxy")
        + f"http {{ access_log off; client_body_temp_path {work}/pb;"
        + f" proxy_temp_path {work}/pt; keepalive_requests 1000000;\n"
        + '  split_clients "bench-salt${http_x_user_id}" $variant {'
        + f" {WEIGHT_PERCENT}% candidate; * stable; }}\n"
        + upstream("stable") + upstream("candidate") + upstream("shadow")
        + f"  server {{ listen 127.0.0.1:{ports['nginx']}; location / {{ {proxy} }} }}\n"
        + f"  server {{ listen 127.0.0.1:{ports['nginx_mirror']};\n"
        + f"    location / {{ mirror /__mirror; mirror_request_body on; {proxy} }}\n"
        + "    location = /__mirror { internal; proxy_http_version 1.1;"
        + ' proxy_set_header Connection ""; proxy_pass http://shadow$request_uri; } }\n'
        + "}\n"
    )
