"""A thin Toxiproxy HTTP API client (TOXIPROXY_API.md).

toxiproxy-python keeps one global server address and has no toxic update or populate,
so the harness, which may drive several servers, speaks the documented API directly.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from harness.cluster.client import tls_verify


class ToxiproxyError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"toxiproxy {status}: {message}")
        self.status = status


#: ``POST /reset`` starts the listener of every disabled proxy before it answers: a
#: starting testnet of 128 validators has 5,000 of them per server, seconds of work on a
#: busy machine, where every other call answers well within the client's timeout.
RESET_TIMEOUT_S = 120.0


class ToxiproxyApi:
    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        import httpx  # here, not at import: the CLI's light commands never need it

        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, timeout=timeout, verify=tls_verify(base_url))
        # How a proxy is updated: PATCH since Toxiproxy 2.6 (which logs POST as deprecated
        # on every call); a server that refuses it with 405 is older and gets POST.
        self._update_method = "PATCH"

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, json: Any = None, timeout: float | None = None) -> Any:
        wait = self._http.timeout if timeout is None else timeout
        resp = self._http.request(method, path, json=json, timeout=wait)
        if resp.status_code >= 400:
            try:
                message = resp.json().get("error", resp.text)
            except ValueError:
                message = resp.text
            raise ToxiproxyError(resp.status_code, message)
        return resp.json() if resp.content else None

    def metrics(self) -> str | None:
        """The Prometheus text of ``GET /metrics``; None when the server serves none (a 404:
        started without ``-proxy-metrics``, or a Toxiproxy older than 2.6)."""
        resp = self._http.get("/metrics")
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise ToxiproxyError(resp.status_code, resp.text.strip())
        return resp.text

    def version(self) -> str:
        return str(self._call("GET", "/version").get("version", "?"))

    def proxies(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/proxies")
        return result

    def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("POST", "/populate", proxies)["proxies"]
        return result

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        body = {"enabled": enabled}
        try:
            self._call(self._update_method, f"/proxies/{proxy}", body)
        except ToxiproxyError as e:
            if e.status != 405 or self._update_method == "POST":
                raise
            self._update_method = "POST"
            self._call("POST", f"/proxies/{proxy}", body)

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/proxies/{proxy}/toxics")
        return result

    def add_toxic(
        self,
        proxy: str,
        type_: str,
        attributes: dict[str, int],
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> dict[str, Any]:
        body = {"type": type_, "stream": stream, "toxicity": toxicity, "attributes": attributes}
        if name is not None:
            body["name"] = name
        result: dict[str, Any] = self._call("POST", f"/proxies/{proxy}/toxics", body)
        return result

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def reset(self) -> None:
        self._call("POST", "/reset", timeout=RESET_TIMEOUT_S)


class ProxyApi(Protocol):
    """What the faults and checks use of the fault proxy: one server or several."""

    @property
    def base_url(self) -> str: ...
    def close(self) -> None: ...
    def metrics(self) -> str | None: ...
    def version(self) -> str: ...
    def proxies(self) -> dict[str, Any]: ...
    def set_enabled(self, proxy: str, enabled: bool) -> None: ...
    def toxics(self, proxy: str) -> list[dict[str, Any]]: ...
    def add_toxic(
        self,
        proxy: str,
        type_: str,
        attributes: dict[str, int],
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> dict[str, Any]: ...
    def remove_toxic(self, proxy: str, name: str) -> None: ...
    def reset(self) -> None: ...


class ToxiproxyShards:
    """Several servers as one API (harness.cluster.proxy_shards): a call about one proxy
    goes to the server that holds it, a call about all of them to every server."""

    def __init__(self, servers: list[ToxiproxyApi], home: dict[str, int]) -> None:
        self.servers = servers
        self.home = home  # proxy name -> index in servers

    @property
    def base_url(self) -> str:
        return self.servers[0].base_url

    def _of(self, proxy: str) -> ToxiproxyApi:
        return self.servers[self.home.get(proxy, 0)]  # an unknown proxy: the first says 404

    def close(self) -> None:
        for server in self.servers:
            server.close()

    def metrics(self) -> str | None:
        """Every server's Prometheus text, one after the other (a family may repeat: the
        text format allows it and the parser joins the samples); None when none serves."""
        texts = [t for t in (s.metrics() for s in self.servers) if t is not None]
        return "".join(t if t.endswith("\n") else t + "\n" for t in texts) if texts else None

    def version(self) -> str:
        return self.servers[0].version()

    def proxies(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for server in self.servers:
            found.update(server.proxies())
        return found

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        self._of(proxy).set_enabled(proxy, enabled)

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return self._of(proxy).toxics(proxy)

    def add_toxic(
        self,
        proxy: str,
        type_: str,
        attributes: dict[str, int],
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> dict[str, Any]:
        return self._of(proxy).add_toxic(proxy, type_, attributes, name, stream, toxicity)

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._of(proxy).remove_toxic(proxy, name)

    def reset(self) -> None:
        """Every server at once: each starts the listeners of its own share."""
        with ThreadPoolExecutor(len(self.servers)) as pool:
            list(pool.map(ToxiproxyApi.reset, self.servers))
