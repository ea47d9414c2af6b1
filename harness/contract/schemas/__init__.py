"""JSON Schemas of the files a node is started with (docs/protocol.md §12).

Every file the harness writes for a node is checked against its schema first, so the
documents and what the harness actually writes cannot drift apart.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

SCHEMAS = ("genesis", "key", "node-config")


@cache
def schema(name: str) -> dict[str, Any]:
    """The schema ``name`` (one of SCHEMAS), parsed from this package's JSON file."""
    if name not in SCHEMAS:
        raise KeyError(f"no schema {name!r} (known: {', '.join(SCHEMAS)})")
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    return doc


@cache
def _validator(name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator  # 0.09 s of import, for validating only

    return Draft202012Validator(schema(name))


def problems(name: str, doc: object) -> list[str]:
    """Every way ``doc`` breaks schema ``name``, each naming the field ('' when valid)."""
    out = []
    for err in sorted(_validator(name).iter_errors(doc), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in err.absolute_path) or "(document)"
        out.append(f"{where}: {err.message}")
    return out


def validate(name: str, doc: object) -> None:
    """Raise ValueError naming the first field of ``doc`` that breaks schema ``name``."""
    found = problems(name, doc)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise ValueError(f"{name} document: {found[0]}{more}")
