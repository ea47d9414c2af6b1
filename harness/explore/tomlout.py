"""A scenario document (plain dicts, lists and scalars) as TOML text that ``parse`` reads.

Only what scenario files use: top-level scalars, tables, arrays of tables (``[[steps]]``)
and inline tables for triggers. The standard library reads TOML but does not write it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def value(v: Any) -> str:
    """One TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return _basic(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML form for {type(v).__name__}")


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _controls(text: str) -> bool:
    """A character TOML allows in no string literal unescaped (tab and newline aside)."""
    return any((ord(c) < 0x20 and c not in "\t\n") or ord(c) == 0x7F for c in text)


def _basic(text: str) -> str:
    out = []
    for c in text:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _is_table(v: Any) -> bool:
    return isinstance(v, Mapping)


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _emit(doc: Mapping[str, Any], prefix: str, out: list[str]) -> None:
    for k, v in doc.items():
        if not _is_table(v) and not _is_table_array(v) and k != "description":
            out.append(f"{k} = {value(v)}")
        elif k == "description" and _controls(str(v)):
            out.append(f"description = {_basic(str(v))}")
        elif k == "description":
            out.append(f'description = """\n{_multiline(str(v))}"""')
    for k, v in doc.items():
        if _is_table(v) and k != "at":
            name = f"{prefix}{k}"
            out.append("")
            out.append(f"[{name}]")
            _emit_table(v, name, out)
    for k, v in doc.items():
        if _is_table_array(v):
            for item in v:
                out.append("")
                out.append(f"[[{prefix}{k}]]")
                for ik, iv in item.items():
                    out.append(f"{ik} = {value(iv)}")


def _emit_table(table: Mapping[str, Any], name: str, out: list[str]) -> None:
    for k, v in table.items():
        if not _is_table(v):
            out.append(f"{k} = {value(v)}")
    for k, v in table.items():
        if _is_table(v):
            out.append("")
            out.append(f"[{name}.{k}]")
            _emit_table(v, f"{name}.{k}", out)


def _multiline(text: str) -> str:
    body = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return body if body.endswith("\n") else body + "\n"


def dumps(doc: Mapping[str, Any]) -> str:
    out: list[str] = []
    _emit(doc, "", out)
    return "\n".join(out).strip() + "\n"
