"""``slicer``: cut the data into small packets, optionally delayed (Toxiproxy ``slicer``)."""

from collections.abc import Mapping, Sequence
from typing import Any

from harness.faults.errors import FieldError
from harness.faults.kinds._toxic import Attribute, ToxicKind


class Slicer(ToxicKind):
    def check(self, args: Mapping[str, Any], names: Sequence[str]) -> None:
        """Toxiproxy's own rule (its README: the variation "should be smaller than
        average_size"): the official server panics past it (Shopify/toxiproxy#541) and
        overflows its stack on an average of 0, ending every link of the testnet."""
        super().check(args, names)
        average = args.get("average_size", 0)
        if average < 1:
            raise FieldError(("average_size",), "want at least 1 byte")
        if args.get("size_variation", 0) >= average:
            raise FieldError(
                ("size_variation",),
                f"want less than average_size ({average}): Toxiproxy's slicer panics otherwise",
            )


KIND = Slicer(
    "slicer",
    "slicer",
    "slice the data into packets of about average_size bytes, delay_us apart",
    [
        Attribute("average_size", "average_size", "mean packet size in bytes"),
        Attribute(
            "size_variation",
            "size_variation",
            "variation of the size in bytes, less than average_size",
            False,
            0,
        ),
        Attribute("delay_us", "delay", "delay between packets in microseconds", False, 0),
    ],
    "v2 --average-size 16 --size-variation 8 --delay-us 100",
)
