"""``limit_data``: close the connection once it has carried ``bytes`` (Toxiproxy ``limit_data``)."""

from harness.faults.kinds._toxic import Attribute, ToxicKind

KIND = ToxicKind(
    "limit_data",
    "limit_data",
    "close each connection after it carried bytes bytes",
    [Attribute("bytes", "bytes", "bytes a connection may carry")],
    "v2 --bytes 4096",
    breaks_connection=True,
)
