"""Where a key of a TOML document is written: tomllib returns values without positions.

``KeyLocator`` scans the raw text once and records the line of every table header, key
and array element, as a path like ``("steps", 2, "at", "height")``. It understands what
scenario files use (tables, arrays of tables, dotted keys, inline tables, multi-line
arrays, strings and comments); for anything else it falls back to the nearest enclosing
table, so an error always points somewhere sensible.
"""

from __future__ import annotations

import re

Path_ = tuple[str | int, ...]

_BARE = r"[A-Za-z0-9_-]+"
_BASIC = r'"(?:[^"\\\n]|\\.)*"'
_LITERAL = r"'[^'\n]*'"
_KEY = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_DOTTED = rf"{_KEY}(?:[ \t]*\.[ \t]*{_KEY})*"
_KEY_RE = re.compile(_KEY)
_AOT_RE = re.compile(rf"\[\[[ \t]*({_DOTTED})[ \t]*\]\]")
_TABLE_RE = re.compile(rf"\[[ \t]*({_DOTTED})[ \t]*\]")
_KEYVAL_RE = re.compile(rf"({_DOTTED})[ \t]*=")
_BLANK_RE = re.compile(r"[ \t\r]*")


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _split_key(dotted: str) -> list[str]:
    parts = []
    for m in _KEY_RE.finditer(dotted):
        k = m.group(0)
        parts.append(k[1:-1] if k[0] in "\"'" else k)
    return parts


class KeyLocator:
    def __init__(self, text: str) -> None:
        self.lines: dict[Path_, int] = {}
        self._aot: dict[tuple[str, ...], int] = {}
        self._scan(text)

    def line_of(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest recorded ancestor; 1 when none is."""
        for n in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return line
        return 1

    def _record(self, path: Path_, line: int) -> None:
        for n in range(1, len(path) + 1):
            self.lines.setdefault(tuple(path[:n]), line)

    def _header(self, parts: list[str], aot: bool) -> Path_:
        resolved: list[str | int] = []
        for i, part in enumerate(parts):
            resolved.append(part)
            plain = tuple(parts[: i + 1])
            if aot and i == len(parts) - 1:
                self._aot[plain] = self._aot.get(plain, 0) + 1
                for deeper in [
                    k for k in self._aot if len(k) > len(plain) and k[: len(plain)] == plain
                ]:
                    del self._aot[deeper]
                resolved.append(self._aot[plain] - 1)
            elif plain in self._aot:
                resolved.append(self._aot[plain] - 1)
        return tuple(resolved)

    def _scan(self, text: str) -> None:
        pos, line, n = 0, 1, len(text)
        table: Path_ = ()
        while pos < n:
            # at the start of a line, outside any value
            blank = _BLANK_RE.match(text, pos)
            pos = blank.end() if blank else pos
            if pos >= n:
                break
            ch = text[pos]
            if ch == "\n":
                pos, line = pos + 1, line + 1
                continue
            if ch == "#":
                pos = _skip_to_eol(text, pos)
                continue
            if (m := _AOT_RE.match(text, pos)) is not None:
                table = self._header(_split_key(m.group(1)), aot=True)
                self._record(table, line)
                pos = _skip_to_eol(text, m.end())
                continue
            if (m := _TABLE_RE.match(text, pos)) is not None:
                table = self._header(_split_key(m.group(1)), aot=False)
                self._record(table, line)
                pos = _skip_to_eol(text, m.end())
                continue
            if (m := _KEYVAL_RE.match(text, pos)) is not None:
                path = table + tuple(_split_key(m.group(1)))
                self._record(path, line)
                pos, line = self._value(text, m.end(), line, path)
                continue
            pos = _skip_to_eol(text, pos)  # not TOML we understand: tomllib has judged it

    def _value(self, text: str, pos: int, line: int, path: Path_) -> tuple[int, int]:
        """Scan one value (maybe nested, maybe multi-line); return the position after it."""
        # stack entries: [kind, path, index or last key path, element recorded?]
        stack: list[list[object]] = []
        n = len(text)

        def opening_path() -> Path_:
            if not stack:
                return path
            kind, p, extra, _ = stack[-1]
            if kind == "arr":
                assert isinstance(p, tuple) and isinstance(extra, int)
                return (*p, extra)
            assert isinstance(extra, tuple)
            return extra

        while pos < n:
            ch = text[pos]
            if ch == "\n":
                if not stack:
                    return pos, line
                pos, line = pos + 1, line + 1
                continue
            if ch in " \t\r":
                pos += 1
                continue
            if ch == "#":
                pos = _skip_to_eol(text, pos)
                continue
            top = stack[-1] if stack else None
            if top is not None and top[0] == "tab" and top[3] is False:
                m = _KEYVAL_RE.match(text, pos)
                if m is not None:
                    tp = top[1]
                    assert isinstance(tp, tuple)
                    key_path = tp + tuple(_split_key(m.group(1)))
                    self._record(key_path, line)
                    top[2], top[3] = key_path, True
                    pos = m.end()
                    continue
            if top is not None and top[0] == "arr" and top[3] is False and ch not in ",]":
                self._record(opening_path(), line)
                top[3] = True
            if ch == "[":
                stack.append(["arr", opening_path(), 0, False])
                pos += 1
            elif ch == "{":
                stack.append(["tab", opening_path(), (), False])
                pos += 1
            elif ch in "]}":
                if stack:
                    stack.pop()
                pos += 1
                if not stack:
                    return _skip_to_eol(text, pos), line
            elif ch == ",":
                if top is not None:
                    if top[0] == "arr":
                        assert isinstance(top[2], int)
                        top[2] += 1
                    top[3] = False
                pos += 1
            elif ch in "\"'":
                pos, line = _skip_string(text, pos, line)
                if not stack:
                    return _skip_to_eol(text, pos), line
            else:
                pos += 1
        return pos, line


def _skip_to_eol(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _skip_string(text: str, pos: int, line: int) -> tuple[int, int]:
    quote = text[pos]
    triple = text.startswith(quote * 3, pos)
    delim = quote * 3 if triple else quote
    i = pos + len(delim)
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            line += text.startswith("\n", i + 1)
            i += 2
            continue
        if text.startswith(delim, i):
            return i + len(delim), line
        if text[i] == "\n":
            if not triple:
                return i, line
            line += 1
        i += 1
    return i, line
