"""A peer's claimed height cannot pin the sync target (it only ever increased before)."""

from __future__ import annotations

from clp_node.sync import MAX_HEIGHT, PeerHeights


def test_a_later_lower_claim_replaces_a_huge_one() -> None:
    heights = PeerHeights()
    assert heights.note("p", 2**63 - 1) is False  # not a height at all
    assert heights.note("p", MAX_HEIGHT)
    assert heights.ahead_of(10) == {"p": MAX_HEIGHT}
    assert heights.note("p", 7)
    assert heights.ahead_of(10) == {}


def test_an_unserved_claim_is_dropped_until_claimed_again() -> None:
    heights = PeerHeights()
    heights.note("liar", 10**12)
    heights.note("honest", 20)
    heights.unanswered("liar", 12)
    assert heights.ahead_of(12) == {"honest": 20}
    heights.unanswered("honest", 25)  # a claim below our height is left alone
    assert heights.to_json() == {"liar": 12, "honest": 20}


def test_non_heights_are_ignored() -> None:
    heights = PeerHeights()
    for claim in (True, -1, 1.5, "9", None, MAX_HEIGHT + 1):
        assert heights.note("p", claim) is False
    assert heights.to_json() == {}
