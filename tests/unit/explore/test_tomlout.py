"""The TOML writer round-trips what scenario documents hold."""

from __future__ import annotations

import tomllib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.explore.tomlout import dumps

scalars = st.one_of(
    st.integers(-(2**40), 2**40),
    st.booleans(),
    st.text(max_size=20),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
keys = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True)


@settings(deadline=None)  # a loaded machine is no counterexample
@given(
    st.text(max_size=200),
    st.dictionaries(keys, scalars, max_size=5),
    st.lists(
        st.dictionaries(keys, st.one_of(scalars, st.lists(st.text(max_size=5))), max_size=4),
        max_size=4,
    ),
)
def test_round_trip(description: str, table: dict[str, Any], steps: list[dict[str, Any]]) -> None:
    doc = {"name": "x", "description": description, "cluster": {"clp": table}, "steps": steps}
    back = tomllib.loads(dumps(doc))
    assert back["name"] == "x"
    assert back["description"].rstrip("\n") == description.rstrip("\n")
    assert back["cluster"]["clp"] == table
    assert back.get("steps", []) == [s for s in steps]
