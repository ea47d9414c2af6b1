"""The node config file (docs/protocol.md §12.3), written from its schema as TOML.

A peer's ``endpoint`` is what this node dials to SEND to that peer: the harness points
it at the fault-proxy link that carries only this node's traffic to that peer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from harness.contract.schemas import validate


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Peer:
    name: str
    address: str
    endpoint: HostPort


def node_config_document(
    name: str,
    key_file: Path,
    genesis_file: Path,
    data_dir: Path,
    p2p_listen: HostPort,
    api_listen: HostPort,
    peers: Iterable[Peer],
    test_hooks: bool,
    hooks_token: str = "",
    log_level: str = "info",
) -> dict[str, Any]:
    """The config as a TOML document; relative paths are relative to the config's directory."""
    return {
        "node": {
            "name": name,
            "key_file": str(key_file),
            "genesis_file": str(genesis_file),
            "data_dir": str(data_dir),
        },
        "listen": {"p2p": str(p2p_listen), "api": str(api_listen)},
        "test_hooks": {"enabled": test_hooks} | ({"token": hooks_token} if hooks_token else {}),
        "log": {"level": log_level},
        "peers": [
            {"name": p.name, "address": p.address, "endpoint": str(p.endpoint)} for p in peers
        ],
    }


def write_node_config(path: Path, doc: dict[str, Any]) -> None:
    """Check ``doc`` against the schema, then write it as TOML."""
    validate("node-config", doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(doc))
