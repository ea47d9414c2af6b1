"""A proxy's toxics, per stream in the order added, applied to every open link.

Changes are applied to the chain first and then to a snapshot of the open
links, so a connection accepted while a change is being applied gets the new
chain exactly once.
"""

from __future__ import annotations

import asyncio

from . import schema
from .errors import TOXIC_EXISTS, TOXIC_NOT_FOUND
from .link import Link
from .toxics import STREAMS, Toxic


class ToxicCollection:
    def __init__(self) -> None:
        self._chains: dict[str, list[Toxic]] = {stream: [] for stream in STREAMS}
        self._links: set[Link] = set()

    def chain(self, stream: str) -> list[Toxic]:
        return list(self._chains[stream])

    def all(self) -> list[Toxic]:
        """Upstream toxics first, then downstream, each in the order added."""
        return [toxic for stream in STREAMS for toxic in self._chains[stream]]

    def get(self, name: str) -> Toxic:
        for toxic in self.all():
            if toxic.name == name:
                return toxic
        raise TOXIC_NOT_FOUND

    @property
    def open_links(self) -> int:
        """Links (two per open connection) that toxic changes are applied to."""
        return len(self._links)

    def register(self, link: Link) -> None:
        self._links.add(link)

    def unregister(self, link: Link) -> None:
        self._links.discard(link)

    def add(self, raw: bytes) -> Toxic:
        """Create a toxic from a request body and start it on every open link of its stream."""
        spec = schema.toxic_create(raw)
        if any(toxic.name == spec.name for toxic in self.all()):
            raise TOXIC_EXISTS
        attributes = schema.attributes_for(spec.kind, spec.raw_attributes, {})
        toxic = Toxic(spec.name, spec.kind, spec.stream, spec.toxicity, attributes)
        self._chains[toxic.stream].append(toxic)
        for link in self._open_links(toxic.stream):
            link.add(toxic)
        return toxic

    async def update(self, name: str, raw: bytes) -> Toxic:
        """Merge new attributes/toxicity and restart the toxic on every open link."""
        toxic = self.get(name)
        attributes, toxicity = schema.toxic_update(
            raw, toxic.kind, toxic.attributes, toxic.toxicity
        )
        toxic.attributes, toxic.toxicity = attributes, toxicity
        await asyncio.gather(*(link.update(toxic) for link in self._open_links(toxic.stream)))
        return toxic

    async def remove(self, name: str) -> None:
        """Remove the toxic; open links pass on whatever it was holding."""
        toxic = self.get(name)
        self._chains[toxic.stream].remove(toxic)
        await asyncio.gather(*(link.remove(toxic) for link in self._open_links(toxic.stream)))

    async def reset(self) -> None:
        for toxic in self.all():
            await self.remove(toxic.name)

    def _open_links(self, stream: str) -> list[Link]:
        return [link for link in self._links if link.direction == stream and not link.done]
