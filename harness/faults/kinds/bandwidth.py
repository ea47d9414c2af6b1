"""``bandwidth``: throttle what a node sends (Toxiproxy ``bandwidth``)."""

from harness.faults.kinds._toxic import Attribute, ToxicKind

KIND = ToxicKind(
    "bandwidth",
    "bandwidth",
    "limit the links to rate_kb KB/s",
    [Attribute("rate_kb", "rate", "rate in KB/s")],
    "v2 --rate-kb 64",
)
