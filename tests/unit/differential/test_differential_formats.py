"""The node and the harness's contract code, fed the same inputs, must produce the same bytes.

Two implementations of docs/protocol.md §2-§5 and §8: the node's (clp_node) and the
harness's (harness.contract, which imports nothing of the node). Any disagreement is a bug
in one of them.
"""

from __future__ import annotations

from dataclasses import fields

from hypothesis import given, settings
from hypothesis import strategies as st

from clp_node.chain.block import Block
from clp_node.chain.keys import ValidatorKey as NodeKey
from clp_node.clp.challenge import ChallengeGenerator
from clp_node.clp.response import response_message
from clp_node.clp.types import ClpConfig, ClpConfigError, ClpResponse
from clp_node.consensus.types import VoteType, vote_sign_bytes
from harness.contract import formats as fmt
from harness.contract.keys import ValidatorKey
from harness.contract.params import BPS_FIELDS, ClpParams, ClpParamsError

U64 = st.integers(0, 2**64 - 1)
HASHES = st.binary(min_size=32, max_size=32)
CHAIN_IDS = st.text(min_size=1, max_size=64)
SEEDS = st.binary(min_size=32, max_size=32)
ADDRESSES = st.binary(min_size=20, max_size=20).map(bytes.hex)


def edgy(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Integers in lo..=hi with the edges and their neighbours drawn often."""
    edges = sorted(x for x in {lo, lo + 1, hi - 1, hi} if lo <= x <= hi)
    return st.sampled_from(edges) | st.integers(lo, hi)


BPS = edgy(0, 10_000)


@st.composite
def valid_params(draw: st.DrawFn) -> dict[str, int]:
    """Every §2 range, edges included: E >= K + W, W >= 2, K >= 1, bps in 0..=10000, ..."""
    k = draw(edgy(1, 1000))
    w = draw(edgy(2, 1000))
    return {
        "epoch_length": k + w + draw(edgy(0, 10_000)),
        "challenge_interval": k,
        "response_window": w,
        "min_response_rate_bps": draw(BPS),
        "slash_fraction_bps": draw(BPS),
        "max_consecutive_failures": draw(edgy(1, 1000)),
        "min_stake": draw(edgy(0, 10**12)),
        "min_committee_size": draw(edgy(3, 100)),
        "systemic_fault_bps": draw(BPS),
    }


# Every name present: a genesis missing one is refused by the node (§2, its unit tests),
# while the harness's ClpParams.from_dict also reads the partial overrides of its tests.
ANY_PARAMS = st.fixed_dictionaries(
    {f.name: st.integers(-3, 20_000) | st.booleans() for f in fields(ClpParams)}
)


@given(CHAIN_IDS, U64, HASHES)
def test_challenge_value_agrees(chain_id: str, height: int, block_hash: bytes) -> None:
    node = ChallengeGenerator.compute_challenge_value(chain_id, height, block_hash)
    assert fmt.challenge_value(chain_id, height, block_hash) == node


@given(CHAIN_IDS, U64, HASHES, SEEDS)
def test_response_digest_and_signature_agree(
    chain_id: str, height: int, value: bytes, seed: bytes
) -> None:
    ours, theirs = ValidatorKey(seed), NodeKey(seed)
    assert ours.address == theirs.address
    assert ours.public_key == theirs.public_key
    digest = fmt.response_digest(chain_id, height, value, ours.address)
    assert digest == response_message(chain_id, height, value, theirs.address)
    assert ours.sign_response(chain_id, height, value) == theirs.sign(digest)


@given(
    CHAIN_IDS,
    st.integers(1, 2**64 - 1),
    U64,
    HASHES,
    ADDRESSES,
    st.lists(st.tuples(U64, ADDRESSES, st.binary(min_size=64, max_size=64)), max_size=5),
)
def test_block_hash_agrees(
    chain_id: str,
    height: int,
    time_ms: int,
    parent: bytes,
    proposer: str,
    responses: list[tuple[int, str, bytes]],
) -> None:
    block = Block(
        chain_id,
        height,
        parent,
        proposer,
        tuple(sorted(ClpResponse(h, v, s) for h, v, s in responses)),
        time_ms,
    )
    assert fmt.block_hash(block.to_json()) == block.hash
    assert fmt.block_problem(block.to_json(), height) is None


@given(CHAIN_IDS, U64, U64, HASHES)
def test_precommit_sign_bytes_agree(chain_id: str, height: int, round_: int, h: bytes) -> None:
    node = vote_sign_bytes(chain_id, VoteType.PRECOMMIT, height, round_, h)
    assert fmt.precommit_sign_bytes(chain_id, height, round_, h) == node


@settings(max_examples=300)
@given(ANY_PARAMS)
def test_parameter_validation_agrees(raw: dict[str, int]) -> None:
    """Both accept exactly the same parameter sets, and refuse the others naming one field."""
    try:
        node: ClpConfig | None = ClpConfig.from_dict(raw)
        node_error = ""
    except ClpConfigError as exc:
        node, node_error = None, str(exc)
    try:
        ours: ClpParams | None = ClpParams.from_dict(raw)
        our_error = ""
    except ClpParamsError as exc:
        ours, our_error = None, str(exc)
    assert (node is None) == (ours is None), (node_error, our_error)
    if node is not None and ours is not None:
        assert ours.to_dict() == node.to_dict()
    else:
        assert our_error.split(" ", 1)[0] == node_error.split(" ", 1)[0]


@given(valid_params(), st.integers(0, 10**7))
def test_heights_epochs_and_should_generate_agree(raw: dict[str, int], height: int) -> None:
    node, ours = ClpConfig.from_dict(raw), ClpParams.from_dict(raw)
    gen = ChallengeGenerator(node, chain_id="x")
    assert ours.should_generate(height) == gen.should_generate(height)
    assert ours.closes_epoch(height) == node.closes_epoch(height)
    if height >= 1:
        e = ours.epoch_of(height)
        assert e == node.epoch_of(height)
        assert ours.epoch_first_height(e) == node.epoch_first_height(e) <= height
        assert height <= ours.epoch_last_height(e) == node.epoch_last_height(e)


def test_the_edges_are_reachable() -> None:
    """The rules' own edges: the smallest legal values pass, one below each fails, on both."""
    smallest = {"epoch_length": 3, "challenge_interval": 1, "response_window": 2}
    smallest |= {name: 0 for name in BPS_FIELDS} | {"min_stake": 0, "min_committee_size": 3}
    smallest |= {"max_consecutive_failures": 1}
    assert ClpParams.from_dict(smallest).to_dict() == ClpConfig.from_dict(smallest).to_dict()
    for name, value in smallest.items():
        broken = {**smallest, name: value - 1}
        if name == "epoch_length":
            broken["epoch_length"] = 2
        for cls, err in ((ClpParams, ClpParamsError), (ClpConfig, ClpConfigError)):
            try:
                cls.from_dict(broken)  # type: ignore[attr-defined]
            except err:
                continue
            raise AssertionError(f"{cls.__name__} accepts {name}={broken[name]}")
    production = ClpParams().to_dict()
    top = production | {name: 10_000 for name in BPS_FIELDS}
    assert ClpParams.from_dict(top).to_dict() == ClpConfig.from_dict(top).to_dict()
    for name in BPS_FIELDS:
        for cls in (ClpParams, ClpConfig):
            try:
                cls.from_dict(production | {name: 10_001})  # type: ignore[attr-defined]
            except ValueError:
                continue
            raise AssertionError(f"{cls.__name__} accepts {name}=10001")
