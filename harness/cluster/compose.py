"""A docker compose project for a container testnet (``clp-testnet init --compose``).

The node directories come from the docker layout (``docker_layout``); this adds
``docker-compose.yml`` (one service per validator, the Toxiproxy service, and Prometheus
behind the ``prometheus`` profile), ``.env`` with the values a user may change, and
``prometheus.yml`` scraping every node. The files work with ``docker compose`` (v2) and
``docker-compose`` (v1.28+): no ``version:`` key, only options both understand.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cluster.docker_layout import (
    API_PORT,
    CONTAINER_ROOT,
    DATA_DIR,
    NODE_ENTRYPOINT,
    POPULATE_FILE,
    TOXIPROXY_API_PORT,
    TOXIPROXY_HOST,
    node_command,
    require_docker_layout,
)
from harness.cluster.testnet import TestnetError, TestnetManifest

COMPOSE_FILE = "docker-compose.yml"
ENV_FILE = ".env"
PROMETHEUS_FILE = "prometheus.yml"
NODE_IMAGE = "clp-testnet/node:latest"
TOXIPROXY_IMAGE = "clp-testnet/toxiproxy:latest"
PROMETHEUS_IMAGE = "prom/prometheus:v2.53.0"
PROMETHEUS_PORT = 9090
SCRAPE_INTERVAL = "5s"


@dataclass(frozen=True)
class PublishedPorts:
    """Host ports the services publish; None lets Docker pick a free one."""

    bind: str = "127.0.0.1"
    api_base: int | None = 18080
    toxiproxy: int | None = 18474
    prometheus: int | None = 19090

    def __post_init__(self) -> None:
        for what, port in (
            ("api port base", self.api_base),
            ("toxiproxy port", self.toxiproxy),
            ("prometheus port", self.prometheus),
        ):
            if port is not None and not 1 <= port <= 65535:
                raise TestnetError(f"{what} {port}: want a port in 1..65535")

    def api(self, index: int) -> int | None:
        return None if self.api_base is None else self.api_base + index


def env_var(name: str, suffix: str) -> str:
    """``v0`` + ``API_PORT`` -> ``CLP_V0_API_PORT``."""
    return f"CLP_{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}_{suffix}"


def _port(var: str, default: int | None) -> str:
    return f"${{{var}-{'' if default is None else default}}}"


def _publish(bind: str, var: str, default: int | None, container_port: int) -> str:
    return f"${{CLP_BIND:-{bind}}}:{_port(var, default)}:{container_port}"


def compose_spec(
    manifest: TestnetManifest, ports: PublishedPorts, files: str = "."
) -> dict[str, Any]:
    """The compose file as data: every service, the data volumes, nothing host-specific.

    ``files`` is the testnet directory relative to the compose file's.
    """
    require_docker_layout(manifest)
    services: dict[str, Any] = {}
    if manifest.proxied:
        services[TOXIPROXY_HOST] = {
            "image": f"${{CLP_TOXIPROXY_IMAGE:-{TOXIPROXY_IMAGE}}}",
            # the official toxiproxy-server's flags; the compatible image takes them too
            "command": [
                "-host=0.0.0.0",
                f"-port={TOXIPROXY_API_PORT}",
                f"-config={CONTAINER_ROOT}/{POPULATE_FILE}",
                "-proxy-metrics",  # per-link byte counters at /metrics
            ],
            "volumes": [f"{files}/{POPULATE_FILE}:{CONTAINER_ROOT}/{POPULATE_FILE}:ro"],
            "ports": [
                _publish(ports.bind, "CLP_TOXIPROXY_PORT", ports.toxiproxy, TOXIPROXY_API_PORT)
            ],
            "init": True,
        }
    for index, node in enumerate(manifest.nodes):
        service: dict[str, Any] = {
            "image": f"${{CLP_NODE_IMAGE:-{NODE_IMAGE}}}",
            "entrypoint": [*NODE_ENTRYPOINT, *node_command(node.name)],
            "hostname": node.name,
            # the key files are the init user's, readable by their owner only
            "user": "${CLP_UID:-0}:${CLP_GID:-0}",
            "volumes": [
                f"{files}/genesis.json:{CONTAINER_ROOT}/genesis.json:ro",
                f"{files}/{node.name}:{CONTAINER_ROOT}/{node.name}:ro",
                f"{node.name}-data:{DATA_DIR}",
            ],
            "ports": [
                _publish(ports.bind, env_var(node.name, "API_PORT"), ports.api(index), API_PORT)
            ],
            "init": True,
            "stop_grace_period": "10s",
        }
        if manifest.proxied:
            service["depends_on"] = [TOXIPROXY_HOST]
        services[node.name] = service
    services["prometheus"] = {
        "image": f"${{CLP_PROMETHEUS_IMAGE:-{PROMETHEUS_IMAGE}}}",
        "profiles": ["prometheus"],
        "volumes": [f"./{PROMETHEUS_FILE}:/etc/prometheus/prometheus.yml:ro"],
        "ports": [_publish(ports.bind, "CLP_PROMETHEUS_PORT", ports.prometheus, PROMETHEUS_PORT)],
        "depends_on": [n.name for n in manifest.nodes],
    }
    return {
        "services": services,
        "volumes": {f"{n.name}-data": {} for n in manifest.nodes},
    }


def prometheus_spec(manifest: TestnetManifest) -> dict[str, Any]:
    """Prometheus scraping ``/metrics`` of every node by its service name."""
    require_docker_layout(manifest)
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": "clp-node",
                "metrics_path": "/metrics",
                "static_configs": [
                    {
                        "targets": [f"{n.name}:{API_PORT}" for n in manifest.nodes],
                        "labels": {"chain_id": manifest.chain_id},
                    }
                ],
            }
        ],
    }


def env_text(
    manifest: TestnetManifest,
    ports: PublishedPorts,
    owner: tuple[int, int] | None,
    node_image: str = NODE_IMAGE,
) -> str:
    """``.env``: what a user may change without regenerating (compose reads it itself).

    ``owner`` is the uid and gid the nodes run as; None leaves root (0:0), for files whose
    owner is not known when they are written (a checked-in testnet).
    """
    uid, gid = (
        ("# CLP_UID=0", "# CLP_GID=0")
        if owner is None
        else (
            f"CLP_UID={owner[0]}",
            f"CLP_GID={owner[1]}",
        )
    )
    lines = [
        "# Read by docker compose / docker-compose from this directory; edit freely.",
        "# Images: build them with `clp-testnet images build`.",
        f"CLP_NODE_IMAGE={node_image}",
        f"CLP_TOXIPROXY_IMAGE={TOXIPROXY_IMAGE}",
        f"CLP_PROMETHEUS_IMAGE={PROMETHEUS_IMAGE}",
        "# Who the nodes run as: the owner of the key files (they are 0600); default root.",
        uid,
        gid,
        "# Published ports on the host; empty lets Docker pick (see `docker compose port`).",
        f"CLP_BIND={ports.bind}",
        f"CLP_TOXIPROXY_PORT={'' if ports.toxiproxy is None else ports.toxiproxy}",
        f"CLP_PROMETHEUS_PORT={'' if ports.prometheus is None else ports.prometheus}",
    ]
    for index, node in enumerate(manifest.nodes):
        port = ports.api(index)
        lines.append(f"{env_var(node.name, 'API_PORT')}={'' if port is None else port}")
    return "\n".join(lines) + "\n"


_PLAIN = re.compile(r"[A-Za-z0-9_./-]+")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    plain = _PLAIN.fullmatch(text) and text.lower() not in _RESERVED
    if plain and not re.fullmatch(r"[-+.0-9eE]+", text):
        return text
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _inline(value: object) -> str | None:
    """A value that fits on its key's or dash's line; None for a non-empty dict or list."""
    if isinstance(value, (dict, list)):
        return None if value else ("{}" if isinstance(value, dict) else "[]")
    return _scalar(value)


def to_yaml(value: object, indent: int = 0) -> str:
    """Block-style YAML of dicts, lists, strings, ints and bools (all this module writes)."""
    pad = "  " * indent
    inline = _inline(value)
    if inline is not None:
        return f"{pad}{inline}\n"
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            text = _inline(item)
            nested = f"\n{to_yaml(item, indent + 1)}" if text is None else f" {text}\n"
            out.append(f"{pad}{_scalar(key)}:{nested}")
    else:
        assert isinstance(value, list)
        for item in value:
            text = _inline(item)
            # a nested item starts on the dash's line, one level deeper than the dash
            first = to_yaml(item, indent + 1)[len(pad) + 2 :] if text is None else f"{text}\n"
            out.append(f"{pad}- {first}")
    return "".join(out)


HEADER = """\
# A {n}-validator CLP testnet for docker compose; generated by `clp-testnet init --compose`.
#   clp-testnet images build                    the node and Toxiproxy images (no registry)
#   docker compose up -d                        or: docker-compose up -d
#   curl localhost:${{CLP_V0_API_PORT}}/alpha/clp/status
#   docker compose --profile prometheus up -d   also Prometheus scraping every node
#   docker compose down -v                      stop and remove everything, data volumes too
# Node vi dials peer vj through the Toxiproxy service (proxy vi_to_vj, see {populate}).
# clp-testnet status|fault|check|down --dir {testnet} find the services' published ports.
"""


def write_compose_project(
    manifest: TestnetManifest,
    ports: PublishedPorts,
    owner: tuple[int, int] | None,
    compose_dir: Path | None = None,
    node_image: str = NODE_IMAGE,
) -> list[Path]:
    """Write the compose file, ``.env`` and ``prometheus.yml`` into ``compose_dir``.

    By default that is the testnet's own directory; otherwise the compose file names the
    testnet's files by their path relative to ``compose_dir``.
    """
    root = compose_dir if compose_dir is not None else manifest.root
    root.mkdir(parents=True, exist_ok=True)
    rel = Path(os.path.relpath(manifest.root.resolve(), root.resolve())).as_posix()
    prefix = "." if rel == "." else rel if rel.startswith("..") else f"./{rel}"
    header = HEADER.format(n=len(manifest.nodes), populate=POPULATE_FILE, testnet=prefix)
    files = {
        COMPOSE_FILE: header + "\n" + to_yaml(compose_spec(manifest, ports, prefix)),
        ENV_FILE: env_text(manifest, ports, owner, node_image),
        PROMETHEUS_FILE: "# Generated by `clp-testnet init --compose`.\n"
        + to_yaml(prometheus_spec(manifest)),
    }
    written = []
    for name, text in files.items():
        (root / name).write_text(text)
        written.append(root / name)
    return written
