"""The failed tests of a `make test`, from its JUnit files, printed last.

`make test` runs its suites side by side and prints each one's output when it is done, so
a failure can sit minutes of output above the end, where a CI log shown head and tail
loses it. This prints every failed or errored test of reports/*.xml, with the first lines
of its message, after everything else.

    python tests/failures.py reports
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

LINES = 12  # of each failure's message: the assertion and the harness's notes


def failures(report: Path) -> list[str]:
    """One block per failed or errored test case of a JUnit file."""
    try:
        root = ET.parse(report).getroot()
    except (ET.ParseError, OSError) as exc:
        return [f"{report.name}: unreadable ({exc})"]
    out = []
    for case in root.iter("testcase"):
        for kind in ("failure", "error"):
            for el in case.findall(kind):
                test = f"{case.get('classname', '?')}::{case.get('name', '?')}"
                text = (el.get("message") or "") + "\n" + (el.text or "")
                lines = [ln for ln in text.strip().splitlines() if ln.strip()][:LINES]
                body = "\n".join(f"    {ln[:300]}" for ln in lines)
                out.append(f"{report.name}: {kind.upper()} {test}\n{body}")
    return out


def main(argv: list[str]) -> int:
    folder = Path(argv[1] if len(argv) > 1 else "reports")
    found = [f for xml in sorted(folder.glob("*.xml")) for f in failures(xml)]
    if found:
        print(f"failed tests ({len(found)}), from {folder}/*.xml:")
        print("\n".join(found))
    else:
        print(f"no failed test in {folder}/*.xml")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
