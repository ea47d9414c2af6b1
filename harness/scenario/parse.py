"""Scenario TOML → ``Scenario``: every key, type, node name, action field and trigger checked.

An error names the file, the line and the field (``FILE:LINE: field 'steps[2].at.height':
want an integer >= 1, got "x"``); unknown keys are errors, so a typo never turns into a
silently ignored fault. Indices in field names count from 0, like the TOML arrays.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from harness.contract.genesis import ConsensusParams
from harness.contract.params import ClpParams as ClpConfig
from harness.contract.params import ClpParamsError as ClpConfigError
from harness.faults import kinds
from harness.faults.errors import FieldError
from harness.node_mix import MixError, mix_nodes
from harness.scenario.feasibility import unreachable_step
from harness.scenario.locate import KeyLocator, Path_, format_path
from harness.scenario.model import (
    ACTIONS,
    ASSERTION_FIELDS,
    DEFAULT_REASON,
    FORGES,
    REASONS,
    STATUSES,
    TRIGGER_KINDS,
    Action,
    ClusterSpec,
    Expectation,
    QuietSpec,
    Scenario,
    Step,
    Trigger,
)
from harness.scenario.triggers import trigger_error

NAME_RE = re.compile(r"[a-z0-9-]+")
MAX_DELAY_S = 3600.0

TOP_KEYS = {"name": True, "description": False, "cluster": True, "run": True}
TOP_KEYS |= {"steps": False, "expect": False, "quiet": False}
CLUSTER_KEYS = {"validators": True, "stakes": False, "clp": False, "consensus": False}
CLUSTER_KEYS |= {"nodes": False}
EXPECT_KEYS = {
    "epoch": True,
    "slashed": False,
    "ejected": False,
    "deferred": False,
    "systemic": False,
    "committee": False,
    "stakes": False,
    "statuses": False,
}


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names file, line and field."""

    def __init__(self, file: str, line: int, field: str | None, message: str) -> None:
        where = f"{file}:{line}" if line else file
        where += f": field '{field}'" if field else ""
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
        self.field = field


def _show(value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Checker:
    """Validation with the file and the key positions at hand, so every error can be placed."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.where = KeyLocator(text)

    def error(self, path: Path_, message: str) -> ScenarioError:
        return ScenarioError(self.file, self.where.line_of(path), format_path(path), message)

    def table(self, value: Any, path: Path_, keys: Mapping[str, bool]) -> dict[str, Any]:
        """A table with only ``keys`` (name -> required)."""
        if not isinstance(value, dict):
            raise self.error(path, f"want a table, got {_show(value)}")
        for key in value:
            if key not in keys:
                raise self.error((*path, key), f"unknown key (known: {', '.join(keys)})")
        for key, required in keys.items():
            if required and key not in value:
                raise self.error((*path, key), "required, missing")
        return value

    def integer(self, value: Any, path: Path_, lo: int | None = None, hi: int | None = None) -> int:
        ok = _is_int(value) and (lo is None or value >= lo) and (hi is None or value <= hi)
        if not ok:
            bound = (
                f" in {lo}..{hi}"
                if lo is not None and hi is not None
                else f" >= {lo}"
                if lo is not None
                else ""
            )
            raise self.error(path, f"want an integer{bound}, got {_show(value)}")
        return int(value)

    def number(self, value: Any, path: Path_, lo: float, hi: float) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and lo <= value <= hi
        if not ok:
            raise self.error(
                path, f"want a number of seconds in {lo:g}..{hi:g}, got {_show(value)}"
            )
        return float(value)

    def string(self, value: Any, path: Path_) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"want a string, got {_show(value)}")
        return value

    def boolean(self, value: Any, path: Path_) -> bool:
        if not isinstance(value, bool):
            raise self.error(path, f"want true or false, got {_show(value)}")
        return value

    def choice(self, value: Any, path: Path_, choices: Sequence[str]) -> str:
        if value not in choices:
            raise self.error(path, f"want one of {', '.join(choices)}; got {_show(value)}")
        return str(value)

    def array(self, value: Any, path: Path_, min_len: int = 0) -> list[Any]:
        if not isinstance(value, list) or len(value) < min_len:
            need = f" of at least {min_len} item(s)" if min_len else ""
            raise self.error(path, f"want an array{need}, got {_show(value)}")
        return value

    def node(self, value: Any, path: Path_, names: Sequence[str]) -> str:
        if value not in names:
            raise self.error(path, f"want a node name (v0..v{len(names) - 1}), got {_show(value)}")
        return str(value)

    def node_list(
        self, value: Any, path: Path_, names: Sequence[str], min_len: int = 0
    ) -> tuple[str, ...]:
        items = self.array(value, path, min_len)
        out = tuple(self.node(v, (*path, i), names) for i, v in enumerate(items))
        dup = sorted({n for n in out if out.count(n) > 1})
        if dup:
            raise self.error(path, f"a node is named twice: {', '.join(dup)}")
        return out

    def node_table(self, value: Any, path: Path_, names: Sequence[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"want a table of node name = value, got {_show(value)}")
        for key in value:
            self.node(key, (*path, key), names)
        return value


def parse_file(path: Path | str) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ScenarioError(str(path), 0, None, "no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), 0, None, f"cannot read: {exc}") from exc
    return parse_text(text, path)


_TOML_POS = re.compile(r"^(.*) \(at line (\d+), column (\d+)\)$", re.S)


def parse_text(text: str, file: Path | str) -> Scenario:
    shown = str(file)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_POS.match(msg)
        if m:
            raise ScenarioError(
                shown, int(m[2]), None, f"column {m[3]}: invalid TOML: {m[1]}"
            ) from exc
        raise ScenarioError(shown, 0, None, f"invalid TOML: {msg}") from exc
    return _Parser(_Checker(shown, text), Path(file)).scenario(raw)


def load_scenarios(paths: Iterable[Path | str]) -> list[Scenario]:
    """Parse every file; two files with one scenario name are an error naming the second."""
    out: list[Scenario] = []
    seen: dict[str, Scenario] = {}
    for p in paths:
        sc = parse_file(p)
        if sc.name in seen:
            text = Path(p).read_text(encoding="utf-8")
            raise ScenarioError(
                str(p),
                KeyLocator(text).line_of(("name",)),
                "name",
                f"{sc.name!r} is also the name of {seen[sc.name].file}",
            )
        seen[sc.name] = sc
        out.append(sc)
    return out


class _Parser:
    def __init__(self, check: _Checker, file: Path) -> None:
        self.c = check
        self.file = file
        self.names: list[str] = []
        self.cfg = ClpConfig.test_profile()

    def scenario(self, raw: dict[str, Any]) -> Scenario:
        c = self.c
        c.table(raw, (), TOP_KEYS)
        name = c.string(raw["name"], ("name",))
        if not NAME_RE.fullmatch(name):
            raise c.error(("name",), f"want lower-case letters, digits and '-', got {_show(name)}")
        description = c.string(raw.get("description", ""), ("description",))
        cluster = self.cluster(raw["cluster"])
        run = c.table(raw["run"], ("run",), {"until_epoch": True})
        until = c.integer(run["until_epoch"], ("run", "until_epoch"), lo=0)
        steps_raw = c.array(raw.get("steps", []), ("steps",))
        steps = tuple(self.step(s, i) for i, s in enumerate(steps_raw))
        unreachable = unreachable_step(steps, until, self.cfg)
        if unreachable is not None:
            raise c.error(("steps", unreachable[0].index, "at"), unreachable[1])
        expects_raw = c.array(raw.get("expect", []), ("expect",))
        expects = tuple(self.expect(e, i, until) for i, e in enumerate(expects_raw))
        quiet_raw = c.table(raw.get("quiet", {}), ("quiet",), {"blocks": False})
        quiet = QuietSpec(
            blocks=c.integer(quiet_raw.get("blocks", QuietSpec.blocks), ("quiet", "blocks"), 1)
        )
        return Scenario(
            name=name,
            file=self.file,
            cluster=cluster,
            until_epoch=until,
            description=description,
            steps=steps,
            expects=expects,
            quiet=quiet,
        )

    # ---- [cluster] ---------------------------------------------------------------------

    def cluster(self, raw: Any) -> ClusterSpec:
        c, p = self.c, ("cluster",)
        c.table(raw, p, CLUSTER_KEYS)
        n = c.integer(raw["validators"], (*p, "validators"), lo=1)
        self.names = [f"v{i}" for i in range(n)]
        stakes = None
        if "stakes" in raw:
            items = c.array(raw["stakes"], (*p, "stakes"))
            stakes = tuple(c.integer(s, (*p, "stakes", i), lo=1) for i, s in enumerate(items))
            if len(stakes) != n:
                raise c.error(
                    (*p, "stakes"), f"want {n} stakes (one per validator), got {len(stakes)}"
                )
        clp = self.int_table(raw.get("clp", {}), (*p, "clp"), [f.name for f in fields(ClpConfig)])
        consensus = self.int_table(
            raw.get("consensus", {}),
            (*p, "consensus"),
            [f.name for f in fields(ConsensusParams)],
            lo=1,
        )
        nodes = None
        if "nodes" in raw:
            try:
                nodes = tuple(mix_nodes(raw["nodes"], n))
            except MixError as exc:
                raise c.error((*p, "nodes"), str(exc)) from exc
        spec = ClusterSpec(n, stakes, clp, consensus, nodes)
        try:
            self.cfg = spec.clp_config()
        except ClpConfigError as exc:
            first = str(exc).split(" ", 1)[0]
            field = (*p, "clp", first) if first in clp else (*p, "clp")
            raise c.error(field, str(exc)) from exc
        return spec

    def int_table(
        self, raw: Any, path: Path_, known: list[str], lo: int | None = None
    ) -> dict[str, int]:
        table = self.c.table(raw, path, dict.fromkeys(known, False))
        return {k: self.c.integer(v, (*path, k), lo=lo) for k, v in table.items()}

    # ---- [[steps]] ---------------------------------------------------------------------

    def step(self, raw: Any, i: int) -> Step:
        c, p = self.c, ("steps", i)
        if not isinstance(raw, dict):
            raise c.error(p, f"want a table, got {_show(raw)}")
        for key in ("at", "do"):
            if key not in raw:
                raise c.error((*p, key), "required, missing")
        if raw["do"] in kinds.RENAMED:
            new = kinds.RENAMED[raw["do"]]
            raise c.error((*p, "do"), f'"{raw["do"]}" is now called "{new}"')
        kind = c.choice(raw["do"], (*p, "do"), ACTIONS)
        if kind in ASSERTION_FIELDS:
            required, optional = ASSERTION_FIELDS[kind]
            takes = {*required, *optional}
            for key in raw:
                if key not in takes and key not in ("at", "do"):
                    fields_text = ", ".join((*required, *optional)) or "no fields"
                    raise c.error((*p, key), f'not a field of "{kind}" (it takes: {fields_text})')
            for key in required:
                if key not in raw:
                    raise c.error((*p, key), f'required by "{kind}", missing')
        trigger = self.trigger(raw["at"], (*p, "at"))
        action = self.action(kind, raw, p)
        return Step(index=i, line=c.where.line_of(p), trigger=trigger, action=action)

    def trigger(self, raw: Any, p: Path_) -> Trigger:
        c = self.c
        c.table(raw, p, dict.fromkeys((*TRIGGER_KINDS, "offset"), False))
        kinds = [k for k in TRIGGER_KINDS if k in raw]
        if len(kinds) != 1:
            got = " and ".join(kinds) if kinds else "none"
            raise c.error(p, f"want exactly one of {', '.join(TRIGGER_KINDS)}; got {got}")
        kind = kinds[0]
        if kind in ("after_s", "height") and "offset" in raw:
            raise c.error((*p, "offset"), "only epoch and challenge triggers take an offset")
        value: int | float
        if kind == "after_s":
            value = c.number(raw[kind], (*p, kind), 0.0, MAX_DELAY_S)
        else:
            value = c.integer(raw[kind], (*p, kind), lo=0 if kind == "epoch" else 1)
        offset = c.integer(raw.get("offset", 0), (*p, "offset"), lo=0)
        trigger = Trigger(kind, value, offset)
        problem = trigger_error(trigger, self.cfg)
        if problem is not None:
            raise c.error((*p, problem[0]), problem[1])
        return trigger

    def action(self, kind: str, raw: dict[str, Any], p: Path_) -> Action:
        c, names = self.c, self.names
        if kind in kinds.KINDS:
            fields = {k: v for k, v in raw.items() if k not in ("at", "do")}
            try:
                req = kinds.KINDS[kind].request(fields, names)
            except FieldError as exc:
                raise c.error((*p, *exc.path), exc.message) from exc
            return Action(kind=kind, args=req.args)
        args: dict[str, Any] = {}
        if "nodes" in raw:
            args["nodes"] = c.node_list(raw["nodes"], (*p, "nodes"), names, min_len=1)
        if "blocks" in raw:
            args["blocks"] = c.integer(raw["blocks"], (*p, "blocks"), lo=1)
        if kind == "post_response":
            args["via"] = c.node(raw["via"], (*p, "via"), names)
            forge = c.choice(raw["forge"], (*p, "forge"), FORGES)
            args["forge"] = forge
            args["expect_reason"] = c.choice(
                raw.get("expect_reason", DEFAULT_REASON[forge]), (*p, "expect_reason"), REASONS
            )
            if "validator" in raw:
                args["validator"] = c.node(raw["validator"], (*p, "validator"), names)
        return Action(kind=kind, **args)

    # ---- [[expect]] --------------------------------------------------------------------

    def expect(self, raw: Any, i: int, until: int) -> Expectation:
        c, p, names = self.c, ("expect", i), self.names
        c.table(raw, p, EXPECT_KEYS)
        epoch = c.integer(raw["epoch"], (*p, "epoch"), lo=0)
        if epoch > until:
            raise c.error(
                (*p, "epoch"),
                f"want an epoch the run reaches (<= run.until_epoch = {until}), got {epoch}",
            )

        def names_set(key: str) -> frozenset[str] | None:
            if key not in raw:
                return None
            return frozenset(c.node_list(raw[key], (*p, key), names))

        stakes = None
        if "stakes" in raw:
            table = c.node_table(raw["stakes"], (*p, "stakes"), names)
            stakes = {k: c.integer(v, (*p, "stakes", k), lo=0) for k, v in table.items()}
        statuses = None
        if "statuses" in raw:
            table = c.node_table(raw["statuses"], (*p, "statuses"), names)
            statuses = {k: c.choice(v, (*p, "statuses", k), STATUSES) for k, v in table.items()}
        systemic = c.boolean(raw["systemic"], (*p, "systemic")) if "systemic" in raw else None
        return Expectation(
            epoch=epoch,
            line=c.where.line_of(p),
            slashed=names_set("slashed"),
            ejected=names_set("ejected"),
            deferred=names_set("deferred"),
            systemic=systemic,
            committee=names_set("committee"),
            stakes=stakes,
            statuses=statuses,
        )
