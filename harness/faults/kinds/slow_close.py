"""``slow_close``: delay the close of a connection by ms (Toxiproxy ``slow_close``)."""

from harness.faults.kinds._toxic import Attribute, ToxicKind

KIND = ToxicKind(
    "slow_close",
    "slow_close",
    "delay closing the connections by ms",
    [Attribute("ms", "delay", "delay of the close in ms")],
    "v2 --ms 2000",
)
