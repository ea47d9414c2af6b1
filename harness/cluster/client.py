"""A node seen only through its REST contract (CLP_SPEC §9): what the harness may rely on."""

from __future__ import annotations

from typing import Any

import httpx


def tls_verify(base_url: str) -> bool:
    """Certificates are only loaded for an https URL: a client for plain http (every
    testnet's node APIs and proxy) would otherwise read the system's CA store each time,
    50 ms of CPU per client, and a run makes one per node."""
    return base_url.lower().startswith("https:")


class NodeUnavailable(RuntimeError):
    """The node did not answer (down, paused, or cut off from the harness)."""


# The node's test hooks want this header (docs/hooks.md); its value is the testnet's
# ``hooks_token`` from the manifest, which ``init`` also writes into every node config.
HOOKS_TOKEN_HEADER = "X-CLP-Hooks-Token"


class NodeClient:
    def __init__(
        self, name: str, base_url: str, timeout: float = 2.0, hooks_token: str = ""
    ) -> None:
        self.name = name
        self.base_url = base_url
        self._hooks_token = hooks_token
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, verify=tls_verify(base_url)
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
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

    async def post_response(self, body: Any) -> httpx.Response:
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
