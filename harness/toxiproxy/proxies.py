"""The set of proxies by name: create, delete, populate, reset."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from . import address, schema
from .errors import PROXY_EXISTS, PROXY_NOT_FOUND, internal
from .metrics import ProxyMetrics
from .proxy import Proxy


@dataclass
class _Planned:
    spec: schema.ProxyInput
    existing: Proxy | None
    same_listen: bool = False
    """The existing proxy already listens where the spec asks."""
    bound: tuple[socket.socket, str] | None = None

    @property
    def keep(self) -> bool:
        """Same listen and upstream: the existing proxy stays as it is."""
        existing = self.existing
        return self.same_listen and existing is not None and existing.upstream == self.spec.upstream

    @property
    def reuses_port(self) -> bool:
        """A replaced proxy on the very same address: bind only once it has stopped."""
        existing = self.existing
        return self.same_listen and existing is not None and existing.enabled


class ProxyCollection:
    def __init__(self) -> None:
        self._proxies: dict[str, Proxy] = {}
        self.metrics = ProxyMetrics()

    def all(self) -> list[Proxy]:
        return [self._proxies[name] for name in sorted(self._proxies)]

    def get(self, name: str) -> Proxy:
        proxy = self._proxies.get(name)
        if proxy is None:
            raise PROXY_NOT_FOUND
        return proxy

    async def create(self, spec: schema.ProxyInput) -> Proxy:
        if spec.name in self._proxies:
            raise PROXY_EXISTS
        proxy = Proxy(spec.name, spec.listen, spec.upstream, self.metrics)
        if spec.enabled:
            await proxy.start()
        self._proxies[spec.name] = proxy
        return proxy

    async def delete(self, name: str) -> None:
        proxy = self.get(name)
        await proxy.stop()
        del self._proxies[name]

    async def clear(self) -> None:
        for name in list(self._proxies):
            await self.delete(name)

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        for proxy in self.all():
            await proxy.start()
            await proxy.toxics.reset()

    async def populate(self, specs: list[schema.ProxyInput]) -> list[Proxy]:
        """Create or replace proxies; one with the same listen and upstream is kept as is.

        Every new listener is bound before anything changes, so a bind failure
        leaves the collection untouched.
        """
        plans = [_Planned(spec, self._proxies.get(spec.name)) for spec in specs]
        for plan in plans:
            if plan.existing is not None:
                plan.same_listen = await address.same_listen(plan.existing.listen, plan.spec.listen)
        try:
            for plan in plans:
                if plan.keep or not plan.spec.enabled or plan.reuses_port:
                    continue
                plan.bound = await address.bind(plan.spec.listen)
        except address.AddressError as exc:
            for plan in plans:
                if plan.bound is not None:
                    plan.bound[0].close()
            raise internal(str(exc)) from exc

        result: list[Proxy] = []
        for plan in plans:
            if plan.keep and plan.existing is not None:
                result.append(plan.existing)
                continue
            if plan.existing is not None:
                await plan.existing.stop()
            proxy = Proxy(plan.spec.name, plan.spec.listen, plan.spec.upstream, self.metrics)
            self._proxies[proxy.name] = proxy
            if plan.spec.enabled:
                await proxy.start(plan.bound)
            result.append(proxy)
        return result
