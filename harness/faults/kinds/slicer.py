"""``slicer``: cut the data into small packets, optionally delayed (Toxiproxy ``slicer``)."""

from harness.faults.kinds._toxic import Attribute, ToxicKind

KIND = ToxicKind(
    "slicer",
    "slicer",
    "slice the data into packets of about average_size bytes, delay_us apart",
    [
        Attribute("average_size", "average_size", "mean packet size in bytes"),
        Attribute("size_variation", "size_variation", "variation of the size in bytes", False, 0),
        Attribute("delay_us", "delay", "delay between packets in microseconds", False, 0),
    ],
    "v2 --average-size 16 --size-variation 8 --delay-us 100",
)
