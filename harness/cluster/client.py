"""A node seen only through its REST contract (CLP_SPEC §9): what the harness may rely on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp


def tls_verify(base_url: str) -> bool:
    """Certificates are only loaded for an https URL: a client for plain http (every
    testnet's node APIs and proxy) would otherwise read the system's CA store each time,
    50 ms of CPU per client, and a run makes one per node."""
    return base_url.lower().startswith("https:")


class NodeUnavailable(RuntimeError):
    """The node did not answer (down, paused, or cut off from the harness)."""


class NodeHTTPError(RuntimeError):
    """The node answered with an error status where the contract promises a body."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.method} {reply.path}: status {reply.status_code}")
        self.reply = reply


@dataclass(frozen=True)
class Reply:
    """A node's whole answer to one request, read before the connection is reused."""

    method: str
    path: str
    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON (ValueError when it is not)."""
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise NodeHTTPError(self)


# The node's test hooks want this header (docs/hooks.md); its value is the testnet's
# ``hooks_token`` from the manifest, which ``init`` also writes into every node config.
HOOKS_TOKEN_HEADER = "X-CLP-Hooks-Token"


class NodeClient:
    """The harness polls every node several times a block for a whole run: aiohttp spends
    a sixth of the CPU per request that httpx does, and that was a quarter of a testnet's.
    aiohttp is imported on the first request, not with this module: its import is 0.15 s
    of CPU, and most of the CLI's commands and test processes never ask a node anything."""

    def __init__(
        self, name: str, base_url: str, timeout: float = 2.0, hooks_token: str = ""
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._hooks_token = hooks_token
        self._timeout_s = timeout
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> aiohttp.ClientSession:
        """The session of the running event loop (a client may outlive the loop it first
        ran in, as in the CLI's commands): made on first use in each loop."""
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            if self._session is not None and not self._session.closed:
                self._session.detach()  # its loop is gone or elsewhere: nothing to await
            t = self._timeout_s
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=t, sock_read=t)
            self._session = aiohttp.ClientSession(timeout=timeout)
            self._loop = loop
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            if self._loop is asyncio.get_running_loop():
                await self._session.close()
            else:
                self._session.detach()  # made in a loop that is gone: nothing to await
        self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Reply:
        """One request, its whole answer read; NodeUnavailable when there is none."""
        import aiohttp

        query = {k: str(v) for k, v in params.items()} if params else None
        try:
            async with self._http().request(
                method,
                self.base_url + path,
                json=json,
                data=content,
                headers=headers,
                params=query,
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                return Reply(method, path, resp.status, resp.headers, body)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise NodeUnavailable(f"{self.name}: {method} {path}: {exc!r}") from exc

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        resp = await self.request("GET", path, **kwargs)
        resp.raise_for_status()
        return resp.json()

    async def get_optional(self, path: str) -> Any | None:
        """The JSON body, or None on 404 (e.g. an epoch not evaluated yet)."""
        resp = await self.request("GET", path)
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return resp.json()

    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get_json("/health")
        return result

    async def height(self) -> int:
        return int((await self.health())["height"])

    async def head(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get_json("/alpha/chain/head")
        return result

    async def block(self, height: int) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self.get_optional(f"/alpha/chain/block/{height}")
        return result

    async def committee(self, epoch: int | None = None) -> dict[str, Any] | None:
        path = "/alpha/committee" if epoch is None else f"/alpha/committee?epoch={epoch}"
        result: dict[str, Any] | None = await self.get_optional(path)
        return result

    async def clp_status(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get_json("/alpha/clp/status")
        return result

    async def validator(self, address: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.get_json(f"/alpha/clp/validator/{address}")
        return result

    async def epoch_result(self, epoch: int) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self.get_optional(f"/alpha/clp/epoch/{epoch}")
        return result

    async def clp_answers(self) -> dict[str, Any] | None:
        """The challenges the node answered itself and when it sent each (§11); None when
        it does not serve them (404)."""
        result: dict[str, Any] | None = await self.get_optional("/alpha/clp/answers")
        return result

    async def consensus_status(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get_json("/alpha/consensus/status")
        return result

    async def post_response(self, body: Any) -> Reply:
        return await self.request("POST", "/alpha/clp/response", json=body)

    async def has_test_hooks(self) -> bool:
        """Whether the node serves the optional test hooks (GET /admin/faults is not 404);
        with the token, which GET needs too."""
        headers = {HOOKS_TOKEN_HEADER: self._hooks_token}
        resp = await self.request("GET", "/admin/faults", headers=headers)
        if resp.status_code == 404:
            return False
        resp.raise_for_status()
        return True

    async def get_faults(self) -> dict[str, Any]:
        """The node's test hooks as they are now (GET /admin/faults, with the token)."""
        headers = {HOOKS_TOKEN_HEADER: self._hooks_token}
        resp = await self.request("GET", "/admin/faults", headers=headers)
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    async def set_faults(self, **faults: Any) -> dict[str, Any]:
        headers = {HOOKS_TOKEN_HEADER: self._hooks_token}
        resp = await self.request("POST", "/admin/faults", json=faults, headers=headers)
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    async def consensus_votes(self, first: int, last: int) -> dict[str, Any] | None:
        """The §11 votes of heights first..=last, or None when the node does not serve them."""
        resp = await self.request(
            "GET", "/alpha/consensus/votes", params={"from": first, "to": last}
        )
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    async def metrics(self) -> str:
        resp = await self.request("GET", "/metrics")
        resp.raise_for_status()
        return resp.text
