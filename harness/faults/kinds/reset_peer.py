"""``reset_peer``: reset the connection (TCP RST) after ms (Toxiproxy ``reset_peer``)."""

from harness.faults.kinds._toxic import Attribute, ToxicKind

KIND = ToxicKind(
    "reset_peer",
    "reset_peer",
    "reset the connections with a TCP RST after ms",
    [Attribute("ms", "timeout", "ms until the reset (0: at once)", False, 0)],
    "v2 --ms 100",
    breaks_connection=True,
)
