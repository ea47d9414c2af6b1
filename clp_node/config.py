"""Node configuration (TOML): which key, which genesis, where to listen, how to reach peers.

``endpoint`` of a peer is the address this node dials to SEND to that peer. The harness
points it at a fault-proxy link that carries only this node's traffic to that peer.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clp_node.chain.keys import is_address
from clp_node.net.framing import DEFAULT_MAX_FRAME_BYTES

MIN_HOOKS_TOKEN = 16
SECTION_KEYS = {
    "node": frozenset({"name", "key_file", "genesis_file", "data_dir"}),
    "listen": frozenset({"p2p", "api"}),
    "test_hooks": frozenset({"enabled", "token"}),
    "log": frozenset({"level"}),
    "p2p": frozenset({"max_frame_bytes"}),
}
PEER_KEYS = frozenset({"name", "address", "endpoint"})


class ConfigError(ValueError):
    """A node config that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: object, where: str) -> HostPort:
        if not isinstance(text, str) or ":" not in text:
            raise ConfigError(f"{where}: want 'host:port', got {text!r}")
        host, _, port_s = text.rpartition(":")
        host = host.strip("[]")
        # isascii: str.isdigit() is also true for digits such as U+00B2, which int() refuses.
        ok = port_s.isascii() and port_s.isdigit()
        if not host or not ok or not 0 <= int(port_s) <= 65535:
            raise ConfigError(f"{where}: want 'host:port' with a port in 0..65535, got {text!r}")
        return cls(host, int(port_s))


@dataclass(frozen=True)
class PeerConfig:
    name: str
    address: str
    endpoint: HostPort


@dataclass(frozen=True)
class NodeConfig:
    name: str
    key_file: Path
    genesis_file: Path
    data_dir: Path
    p2p_listen: HostPort
    api_listen: HostPort
    peers: tuple[PeerConfig, ...]
    test_hooks: bool = False
    hooks_token: str = ""
    log_level: str = "info"
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    source: str = "node config"  # the file it came from, for error messages

    @classmethod
    def load(cls, path: Path) -> NodeConfig:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
        return cls.from_dict(raw, base=path.parent, source=str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base: Path, source: str) -> NodeConfig:
        def err(where: str, msg: str) -> ConfigError:
            return ConfigError(f"{source}: {where}: {msg}")

        def table(name: str) -> dict[str, Any]:
            value = raw.get(name, {})
            if not isinstance(value, dict):
                raise err(name, "must be a table")
            only(value, name, SECTION_KEYS[name])
            return value

        def only(value: dict[str, Any], where: str, allowed: frozenset[str]) -> None:
            # A misspelt key (key_flie) must not silently fall back to a default.
            for key in value:
                if key not in allowed:
                    raise err(
                        f"{where}.{key}", f"unknown key (known: {', '.join(sorted(allowed))})"
                    )

        known = {"node", "listen", "peers", "test_hooks", "log", "p2p"}
        for key in raw:
            if key not in known:
                raise err(key, f"unknown section (known: {', '.join(sorted(known))})")
        node = table("node")

        def path_field(key: str) -> Path:
            value = node.get(key)
            if not isinstance(value, str) or not value:
                raise err(f"node.{key}", "a path string is required")
            p = Path(value)
            return p if p.is_absolute() else (base / p)

        name = node.get("name")
        if not isinstance(name, str) or not name:
            raise err("node.name", "a non-empty string is required")
        listen = table("listen")
        p2p = HostPort.parse(listen.get("p2p"), f"{source}: listen.p2p")
        api = HostPort.parse(listen.get("api"), f"{source}: listen.api")

        peers_raw = raw.get("peers", [])
        if not isinstance(peers_raw, list):
            raise err("peers", "must be an array of tables ([[peers]])")
        peers = []
        for i, p in enumerate(peers_raw):
            where = f"peers[{i}]"
            if not isinstance(p, dict):
                raise err(where, "must be a table")
            only(p, where, PEER_KEYS)
            address = p.get("address")
            if not is_address(address):
                raise err(f"{where}.address", "40 lowercase hex characters are required")
            pname = p.get("name", str(address)[:8])
            if not isinstance(pname, str):
                raise err(f"{where}.name", "must be a string")
            endpoint = HostPort.parse(p.get("endpoint"), f"{source}: {where}.endpoint")
            peers.append(PeerConfig(pname, str(address), endpoint))
        if len({p.address for p in peers}) != len(peers):
            raise err("peers", "a peer is listed twice")

        hooks = table("test_hooks")
        enabled = hooks.get("enabled", False)
        if not isinstance(enabled, bool):
            raise err("test_hooks.enabled", "must be true or false")
        token = hooks.get("token", "")
        if not isinstance(token, str) or (enabled and len(token) < MIN_HOOKS_TOKEN):
            raise err(
                "test_hooks.token",
                f"enabled hooks need a token of at least {MIN_HOOKS_TOKEN} characters",
            )
        log = table("log")
        level = log.get("level", "info")
        if level not in ("debug", "info", "warning", "error"):
            raise err("log.level", "one of debug, info, warning, error")
        p2p_table = table("p2p")
        max_frame = p2p_table.get("max_frame_bytes", DEFAULT_MAX_FRAME_BYTES)
        if not isinstance(max_frame, int) or isinstance(max_frame, bool) or max_frame < 1024:
            raise err("p2p.max_frame_bytes", "an integer >= 1024 is required")
        return cls(
            name=name,
            key_file=path_field("key_file"),
            genesis_file=path_field("genesis_file"),
            data_dir=path_field("data_dir"),
            p2p_listen=p2p,
            api_listen=api,
            peers=tuple(peers),
            test_hooks=enabled,
            hooks_token=token,
            log_level=level,
            max_frame_bytes=max_frame,
            source=source,
        )

    def to_toml_dict(self) -> dict[str, Any]:
        return {
            "node": {
                "name": self.name,
                "key_file": str(self.key_file),
                "genesis_file": str(self.genesis_file),
                "data_dir": str(self.data_dir),
            },
            "listen": {"p2p": str(self.p2p_listen), "api": str(self.api_listen)},
            "p2p": {"max_frame_bytes": self.max_frame_bytes},
            "test_hooks": {"enabled": self.test_hooks}
            | ({"token": self.hooks_token} if self.hooks_token else {}),
            "log": {"level": self.log_level},
            "peers": [
                {"name": p.name, "address": p.address, "endpoint": str(p.endpoint)}
                for p in self.peers
            ],
        }
