"""Parsing scenario files: every key of the format, and every error naming file, line, field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.scenario.model import Action, Expectation, QuietSpec, Trigger
from harness.scenario.parse import ScenarioError, load_scenarios, parse_file, parse_text

HERE = Path(__file__).resolve().parent
FULL = HERE / "full.toml"

MINIMAL = """\
name = "tiny"
[cluster]
validators = 4
[run]
until_epoch = 0
"""


def test_minimal_file_gets_defaults() -> None:
    sc = parse_text(MINIMAL, "tiny.toml")
    assert sc.name == "tiny" and sc.description == ""
    assert sc.cluster.validators == 4 and sc.cluster.stakes is None
    assert sc.cluster.clp_config().epoch_length == 20  # the test profile
    assert sc.cluster.consensus_params().block_interval_ms == 200
    assert sc.steps == () and sc.expects == () and sc.quiet == QuietSpec(blocks=8)


def F(kind: str, **args: Any) -> Action:
    """A fault step's action: the kind and its validated arguments."""
    return Action(kind, args=args)


def test_every_key_is_parsed() -> None:
    sc = parse_file(FULL)
    assert sc.name == "every-key" and sc.description == "All keys" and sc.file == FULL
    c = sc.cluster
    assert c.validators == 5 and c.stakes == (100000, 100000, 100000, 100000, 50000)
    assert c.clp_config().max_consecutive_failures == 6 and c.clp_config().epoch_length == 30
    assert c.clp_config().slash_fraction_bps == 1000  # untouched test-profile value
    assert c.consensus_params().block_interval_ms == 250
    assert sc.until_epoch == 2 and sc.quiet.blocks == 12
    got = [(s.trigger, s.action) for s in sc.steps]
    assert got == [
        (Trigger("height", 5), F("partition", groups=[["v0", "v1", "v2"], ["v3"]])),
        (Trigger("epoch", 1), F("cut", **{"from": "v0", "to": "v1"})),
        (Trigger("epoch", 1, 3), F("isolate", node="v4")),
        (Trigger("challenge", 36), F("mute", node="v3")),
        (Trigger("challenge", 36, 4), F("heal")),
        (Trigger("after_s", 2.5), F("latency", node="v2", ms=100, jitter=10, toxicity=1.0)),
        (Trigger("after_s", 1.0), F("latency", link=["v0", "v1"], ms=50, jitter=0, toxicity=1.0)),
        (Trigger("height", 40), F("bandwidth", node="v1", rate_kb=64, toxicity=1.0)),
        (Trigger("height", 41), F("timeout", link=["v1", "v2"], ms=500, toxicity=1.0)),
        (Trigger("height", 42), F("reset_peer", node="v3", ms=0, toxicity=1.0)),
        (Trigger("height", 43), F("clear")),
        (Trigger("height", 44), F("kill", node="v1")),
        (Trigger("height", 45), F("restart", node="v1")),
        (Trigger("height", 46), F("pause", node="v2")),
        (Trigger("height", 47), F("resume", node="v2")),
        (Trigger("height", 48), F("lazy", node="v3")),
        (Trigger("height", 49), F("active", node="v3")),
        (Trigger("height", 50), F("clock_offset", node="v0", ms=-1500)),
        (
            Trigger("height", 51),
            Action(
                "post_response",
                via="v0",
                forge="bad_signature",
                expect_reason="BAD_SIGNATURE",
                validator="v3",
            ),
        ),
        (
            Trigger("height", 52),
            Action("post_response", via="v1", forge="replay", expect_reason="BAD_SIGNATURE"),
        ),
        (Trigger("height", 53), Action("expect_stalled", blocks=10)),
        (Trigger("height", 54), Action("expect_progress", blocks=5, nodes=("v0", "v1"))),
    ]
    assert [s.index for s in sc.steps] == list(range(len(sc.steps)))
    text = FULL.read_text().splitlines()
    assert all(text[s.line - 1] == "[[steps]]" for s in sc.steps)
    e0, e2 = sc.expects
    assert e0 == Expectation(
        epoch=0,
        line=e0.line,
        slashed=frozenset({"v4"}),
        ejected=frozenset(),
        deferred=frozenset(),
        systemic=False,
        committee=frozenset({"v0", "v1", "v2", "v3", "v4"}),
        stakes={"v4": 45000},
        statuses={"v4": "slashed", "v0": "active"},
    )
    assert text[e0.line - 1] == "[[expect]]"
    assert e2.epoch == 2 and e2.slashed is None and e2.systemic is None and e2.stakes is None


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        ("bad_signature", "BAD_SIGNATURE"),
        ("replay", "BAD_SIGNATURE"),
        ("duplicate", "DUPLICATE"),
        ("expired", "EXPIRED"),
        ("unknown_challenge", "UNKNOWN_CHALLENGE"),
        ("not_in_committee", "NOT_IN_COMMITTEE"),
        ("malformed", "MALFORMED"),
    ],
)
def test_post_response_default_reason(forge: str, reason: str) -> None:
    text = (
        MINIMAL
        + f'[[steps]]\nat = {{ height = 3 }}\ndo = "post_response"\nvia = "v1"\nforge = "{forge}"\n'
    )
    (step,) = parse_text(text, "f.toml").steps
    assert step.action.expect_reason == reason and step.action.via == "v1"


# (what is wrong, the file's text, line, field, part of the message)
BAD: list[tuple[str, str, int, str | None, str]] = [
    ("syntax", MINIMAL + "oops = \n", 6, None, "invalid TOML"),
    ("name missing", MINIMAL.replace('name = "tiny"\n', ""), 1, "name", "required, missing"),
    ("name pattern", MINIMAL.replace('"tiny"', '"Tiny One"'), 1, "name", 'got "Tiny One"'),
    ("unknown top key", "seed = 3\n" + MINIMAL, 1, "seed", "unknown key"),
    (
        "validators type",
        MINIMAL.replace("validators = 4", 'validators = "4"'),
        3,
        "cluster.validators",
        'want an integer >= 1, got "4"',
    ),
    (
        "validators zero",
        MINIMAL.replace("validators = 4", "validators = 0"),
        3,
        "cluster.validators",
        "want an integer >= 1, got 0",
    ),
    (
        "stakes count",
        MINIMAL.replace("validators = 4", "validators = 4\nstakes = [1, 2]"),
        4,
        "cluster.stakes",
        "want 4 stakes",
    ),
    (
        "stake value",
        MINIMAL.replace("validators = 4", "validators = 2\nstakes = [\n  5,\n  -1,\n]"),
        6,
        "cluster.stakes[1]",
        "want an integer >= 1, got -1",
    ),
    (
        "unknown clp key",
        MINIMAL + "[cluster.clp]\nepoch_lenght = 30\n",
        7,
        "cluster.clp.epoch_lenght",
        "unknown key (known: epoch_length",
    ),
    (
        "clp rule",
        MINIMAL + "[cluster.clp]\nresponse_window = 1\n",
        7,
        "cluster.clp.response_window",
        "response_window must be >= 2",
    ),
    (
        "consensus value",
        MINIMAL + "[cluster.consensus]\nblock_interval_ms = 0\n",
        7,
        "cluster.consensus.block_interval_ms",
        "want an integer >= 1, got 0",
    ),
    ("run missing", MINIMAL.replace("[run]\nuntil_epoch = 0\n", ""), 1, "run", "required"),
    (
        "until_epoch type",
        MINIMAL.replace("until_epoch = 0", "until_epoch = 1.5"),
        5,
        "run.until_epoch",
        "want an integer >= 0, got 1.5",
    ),
    ("at missing", MINIMAL + '[[steps]]\ndo = "heal"\n', 6, "steps[0].at", "required, missing"),
    (
        "do unknown",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "explode"\n',
        8,
        "steps[0].do",
        "want one of cut, heal, isolate",
    ),
    (
        "height type",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "heal"\n'
        '[[steps]]\nat = { height = "x" }\ndo = "heal"\n',
        10,
        "steps[1].at.height",
        'want an integer >= 1, got "x"',
    ),
    (
        "two triggers",
        MINIMAL + '[[steps]]\nat = { height = 2, epoch = 1 }\ndo = "heal"\n',
        7,
        "steps[0].at",
        "want exactly one of height, epoch, challenge, after_s; got height and epoch",
    ),
    ("no trigger", MINIMAL + '[[steps]]\nat = {}\ndo = "heal"\n', 7, "steps[0].at", "got none"),
    (
        "unknown trigger key",
        MINIMAL + '[[steps]]\nat = { hieght = 2 }\ndo = "heal"\n',
        7,
        "steps[0].at.hieght",
        "unknown key",
    ),
    (
        "not a challenge height",
        MINIMAL + '[[steps]]\nat = { challenge = 5 }\ndo = "heal"\n',
        7,
        "steps[0].at.challenge",
        "want a challenge height",
    ),
    (
        "challenge window crosses the epoch",
        MINIMAL + '[[steps]]\nat = { challenge = 18 }\ndo = "heal"\n',
        7,
        "steps[0].at.challenge",
        "got 18",
    ),
    (
        "challenge offset",
        MINIMAL + '[[steps]]\nat = { challenge = 4, offset = 5 }\ndo = "heal"\n',
        7,
        "steps[0].at.offset",
        "want an offset in 0..4",
    ),
    (
        "epoch offset",
        MINIMAL + '[[steps]]\nat = { epoch = 0, offset = 20 }\ndo = "heal"\n',
        7,
        "steps[0].at.offset",
        "want an offset in 0..19",
    ),
    (
        "height offset",
        MINIMAL + '[[steps]]\nat = { height = 3, offset = 1 }\ndo = "heal"\n',
        7,
        "steps[0].at.offset",
        "only epoch and challenge triggers take an offset",
    ),
    (
        "after_s negative",
        MINIMAL + '[[steps]]\nat = { after_s = -1 }\ndo = "heal"\n',
        7,
        "steps[0].at.after_s",
        "want a number of seconds",
    ),
    (
        "unknown node",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "isolate"\nnode = "v9"\n',
        9,
        "steps[0].node",
        'want a node name (v0..v3), got "v9"',
    ),
    (
        "field of another action",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "isolate"\nnode = "v1"\nms = 3\n',
        10,
        "steps[0].ms",
        'not a field of "isolate" (it takes: node)',
    ),
    (
        "field missing",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "latency"\nnode = "v1"\n',
        6,
        "steps[0].ms",
        'required by "latency", missing',
    ),
    (
        "node and link",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "latency"\nnode = "v1"\n'
        'link = ["v1", "v2"]\nms = 5\n',
        6,
        "steps[0]",
        "exactly one of node or link",
    ),
    (
        "link length",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "timeout"\nlink = ["v1"]\nms = 5\n',
        9,
        "steps[0].link",
        'want ["from", "to"]',
    ),
    (
        "cut to itself",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "cut"\nfrom = "v1"\nto = "v1"\n',
        10,
        "steps[0].to",
        "want a node other than",
    ),
    (
        "node in two groups",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "partition"\n'
        'groups = [["v0", "v1"], ["v1", "v2"]]\n',
        9,
        "steps[0].groups",
        "in two groups: v1",
    ),
    (
        "one group only",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "partition"\n'
        'groups = [["v0", "v1", "v2", "v3"]]\n',
        9,
        "steps[0].groups",
        "at least two groups",
    ),
    (
        "group member",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "partition"\n'
        'groups = [\n  ["v0"],\n  ["v1", 7],\n]\n',
        11,
        "steps[0].groups[1][1]",
        "got 7",
    ),
    (
        "clock offset too big",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "clock_offset"\n'
        'node = "v0"\nms = 4000000\n',
        10,
        "steps[0].ms",
        "in -3600000..3600000",
    ),
    (
        "forge unknown",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "post_response"\n'
        'via = "v0"\nforge = "evil"\n',
        10,
        "steps[0].forge",
        "want one of bad_signature",
    ),
    (
        "reason unknown",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "post_response"\n'
        'via = "v0"\nforge = "replay"\nexpect_reason = "NOPE"\n',
        11,
        "steps[0].expect_reason",
        'got "NOPE"',
    ),
    (
        "blocks zero",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "expect_stalled"\nblocks = 0\n',
        9,
        "steps[0].blocks",
        "want an integer >= 1, got 0",
    ),
    (
        "nodes twice",
        MINIMAL + '[[steps]]\nat = { height = 2 }\ndo = "expect_progress"\n'
        'blocks = 2\nnodes = ["v1", "v1"]\n',
        10,
        "steps[0].nodes",
        "named twice: v1",
    ),
    (
        "expect epoch missing",
        MINIMAL + "[[expect]]\nslashed = []\n",
        6,
        "expect[0].epoch",
        "required, missing",
    ),
    (
        "expect epoch beyond run",
        MINIMAL + "[[expect]]\nepoch = 3\n",
        7,
        "expect[0].epoch",
        "<= run.until_epoch = 0",
    ),
    (
        "expect unknown key",
        MINIMAL + "[[expect]]\nepoch = 0\nslashd = []\n",
        8,
        "expect[0].slashd",
        "unknown key",
    ),
    (
        "expect systemic type",
        MINIMAL + '[[expect]]\nepoch = 0\nsystemic = "no"\n',
        8,
        "expect[0].systemic",
        'want true or false, got "no"',
    ),
    (
        "expect stakes node",
        MINIMAL + "[[expect]]\nepoch = 0\nstakes = { v7 = 5 }\n",
        8,
        "expect[0].stakes.v7",
        "want a node name",
    ),
    (
        "expect status value",
        MINIMAL + '[[expect]]\nepoch = 0\n[expect.statuses]\nv1 = "gone"\n',
        9,
        "expect[0].statuses.v1",
        "want one of active, slashed, ejection_deferred, ejected",
    ),
    (
        "quiet blocks",
        MINIMAL + "[quiet]\nblocks = 0\n",
        7,
        "quiet.blocks",
        "want an integer >= 1, got 0",
    ),
    ("quiet unknown", MINIMAL + "[quiet]\nseconds = 3\n", 7, "quiet.seconds", "unknown key"),
    ("steps not a table array", "steps = 3\n" + MINIMAL, 1, "steps", "want an array"),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_bad_file_error_names_file_line_and_field(
    text: str, line: int, field: str | None, message: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_text(text, "scenarios/bad.toml")
    err = info.value
    assert err.file == "scenarios/bad.toml"
    assert (err.line, err.field) == (line, field), str(err)
    assert message in str(err), str(err)
    prefix = (
        f"scenarios/bad.toml:{line}: field '{field}': " if field else f"scenarios/bad.toml:{line}:"
    )
    assert str(err).startswith(prefix), str(err)


def test_error_message_format_matches_the_documented_example() -> None:
    text = MINIMAL + "".join(
        f'[[steps]]\nat = {{ height = {h} }}\ndo = "heal"\n' for h in ("2", "3", '"x"')
    )
    with pytest.raises(ScenarioError) as info:
        parse_text(text, "s.toml")
    assert (
        str(info.value) == "s.toml:13: field 'steps[2].at.height': want an integer >= 1, got \"x\""
    )


def test_syntax_error_carries_tomllib_line_and_column() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_text('name = "a"\n[cluster\n', "s.toml")
    assert str(info.value).startswith("s.toml:2: column "), str(info.value)
    assert "invalid TOML" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.toml: no such file"):
        parse_file(tmp_path / "nope.toml")


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text(MINIMAL)
    b.write_text("# same name\n" + MINIMAL)
    assert [s.name for s in load_scenarios([a])] == ["tiny"]
    with pytest.raises(ScenarioError) as info:
        load_scenarios([a, b])
    assert (info.value.file, info.value.line, info.value.field) == (str(b), 2, "name")
    assert "also the name of" in str(info.value)
