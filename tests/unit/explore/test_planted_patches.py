"""The planted bugs of ``make explore-power`` still apply to the node as it is now.

Each is a text patch of a ``clp_node/`` file; a node edit that moves the patched text makes
the slow explore-power run fail minutes in. This checks every patch in a second, so the
unit stage says which one to follow the node's new code.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("planted", REPO / "tests/explore/planted.py")
assert _spec is not None and _spec.loader is not None
planted = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("planted", planted)  # its dataclass looks itself up there
_spec.loader.exec_module(planted)


@pytest.mark.parametrize("bug", planted.PLANTED, ids=[b.name for b in planted.PLANTED])
def test_the_patch_applies_once_and_changes_the_code(bug: Any) -> None:
    text = (REPO / bug.file).read_text()
    assert text.count(bug.before) == 1, f"{bug.name}: `before` is not in {bug.file} exactly once"
    assert bug.after != bug.before
    patched = text.replace(bug.before, bug.after)
    compile(patched, bug.file, "exec")  # the planted node still imports
