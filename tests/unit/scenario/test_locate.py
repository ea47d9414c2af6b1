"""Finding the line of a key in raw TOML text (tomllib keeps no positions)."""

from __future__ import annotations

from harness.scenario.locate import KeyLocator, format_path

TEXT = '''\
name = "x"   # comment with key = 1
description = """two
fake = 3
"""
[cluster]
validators = 5
stakes = [
  1,  # first
  2,
]
[cluster.clp]
"max_consecutive_failures" = 12
[[steps]]
at = { height = 5 }
do = "isolate"
[[steps]]
at.epoch = 1
groups = [["v0", "v1"],
   ["v2"]]
[[expect]]
epoch = 0
stakes = { v4 = 9, 'v3' = 1 }
[expect.statuses]
v4 = "slashed"
[[expect]]
epoch = 1
'''


def test_lines_of_keys_tables_and_elements() -> None:
    at = KeyLocator(TEXT).line_of
    assert at(("name",)) == 1 and at(("description",)) == 2
    assert at(("fake",)) == 1  # inside a multi-line string: not a key, so no line of its own
    assert at(("cluster",)) == 5 and at(("cluster", "validators")) == 6
    assert at(("cluster", "stakes")) == 7
    assert at(("cluster", "stakes", 0)) == 8 and at(("cluster", "stakes", 1)) == 9
    assert at(("cluster", "clp", "max_consecutive_failures")) == 12
    assert at(("steps", 0)) == 13 and at(("steps", 0, "at", "height")) == 14
    assert at(("steps", 1)) == 16 and at(("steps", 1, "at", "epoch")) == 17
    assert at(("steps", 1, "groups", 1, 0)) == 19
    assert at(("expect", 0, "stakes", "v3")) == 22
    assert at(("expect", 0, "statuses", "v4")) == 24
    assert at(("expect", 1, "epoch")) == 26


def test_missing_keys_fall_back_to_the_nearest_ancestor() -> None:
    at = KeyLocator(TEXT).line_of
    assert at(("steps", 1, "node")) == 16
    assert at(("steps", 0, "at", "offset")) == 14
    assert at(("run", "until_epoch")) == 1  # no [run] table at all


def test_format_path() -> None:
    assert format_path(("steps", 2, "at", "height")) == "steps[2].at.height"
    assert format_path(("steps", 1, "groups", 0, 1)) == "steps[1].groups[0][1]"
    assert format_path(("name",)) == "name"
