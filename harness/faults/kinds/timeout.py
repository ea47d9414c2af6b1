"""``timeout``: stop all data, close the connection after ms (0: never) (Toxiproxy ``timeout``)."""

from harness.faults.kinds._toxic import Attribute, ToxicKind

KIND = ToxicKind(
    "timeout",
    "timeout",
    "stop every byte; close the connection after ms (0: keep it hanging)",
    [Attribute("ms", "timeout", "ms until the connection is closed (0: never)")],
    "v2 --ms 500",
    breaks_connection=True,
)
