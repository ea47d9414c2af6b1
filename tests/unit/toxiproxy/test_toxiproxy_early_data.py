"""Data a client sends before its upstream is dialled is forwarded, not dropped.

Python before 3.11.3 (Debian bookworm's 3.11.2, the container images' Python) ignores
``pause_reading()`` in ``connection_made`` for accepted sockets, so such data reaches
the endpoint before its link exists.
"""

from __future__ import annotations

from harness.toxiproxy.endpoint import Endpoint


class RecordingLink:
    def __init__(self) -> None:
        self.fed: list[bytes] = []
        self.eof = False

    def feed(self, data: bytes) -> None:
        self.fed.append(data)

    def feed_eof(self) -> None:
        self.eof = True


def test_data_and_eof_before_attach_reach_the_link_in_order() -> None:
    e = Endpoint()
    e.data_received(b"hel")
    e.data_received(b"lo")
    e.eof_received()
    link = RecordingLink()
    e.attach(link)  # type: ignore[arg-type]
    assert link.fed == [b"hel", b"lo"] and link.eof
    e.data_received(b"!")
    assert link.fed == [b"hel", b"lo", b"!"]


def test_attach_with_nothing_early_feeds_nothing() -> None:
    e = Endpoint()
    link = RecordingLink()
    e.attach(link)  # type: ignore[arg-type]
    assert link.fed == [] and not link.eof
