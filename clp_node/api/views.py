"""The §9 views of chain state that both the REST API and the metrics scrape serve."""

from __future__ import annotations

from typing import Any

from clp_node.chain.state import ChainState
from clp_node.clp.types import ValidatorStatus


def validator_view(s: ChainState, address: str) -> dict[str, Any]:
    """The §9 validator record, from chain state only."""
    st = s.clp.statuses().get(address)
    committee = s.committee(s.current_epoch) or {}
    last_outcome = None
    for e in sorted(s.epoch_results, reverse=True):
        last_outcome = next(
            (o for o in s.epoch_results[e].validators if o.address == address), None
        )
        if last_outcome is not None:
            break
    ejected_at = s.ejected_at.get(address)
    if ejected_at is not None:
        status = ValidatorStatus.EJECTED.value
    elif last_outcome is not None:
        status = last_outcome.status.value
    else:
        status = ValidatorStatus.ACTIVE.value
    return {
        "address": address,
        "response_rate": st.rate_bps if st else 10_000,
        "challenges": st.challenges if st else 0,
        "responses": st.responses if st else 0,
        "consecutive_failures": st.consecutive_failures if st else 0,
        "status": status,
        "stake": s.ledger.stake(address),
        "slashed_total": s.slashed_totals.get(address, 0),
        "in_committee": address in committee,
        "ejected_at_epoch": ejected_at,
        "governance_weight_bps": last_outcome.governance_weight_bps if last_outcome else 10_000,
    }
