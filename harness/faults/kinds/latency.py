"""``latency``: delay what a node sends (Toxiproxy ``latency``)."""

from harness.faults.kinds._toxic import Attribute, ToxicKind

KIND = ToxicKind(
    "latency",
    "latency",
    "delay the data sent over the links by ms (+- jitter)",
    [
        Attribute("ms", "latency", "delay in ms"),
        Attribute("jitter", "jitter", "jitter in ms", False, 0),
    ],
    "v2 --ms 300 --jitter 20",
)
