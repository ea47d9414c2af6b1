//! The node's Prometheus series (docs/protocol.md §13, docs/metrics.md). Counters are
//! registered without `_total`; the encoder adds it. Every `reason` label of §5 exists from
//! the start (at 0), so a scrape always shows `alphaos_clp_responses_rejected_total`.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use clp::RejectReason;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The P2P refusal reasons shown at 0 before any happens (others appear when counted).
pub const FRAME_REJECT_REASONS: [&str; 6] = [
    "oversized",
    "not_json",
    "not_object",
    "bad_signature",
    "wrong_chain",
    "unknown_peer",
];

/// The validator statuses of §8, each a series of `alphaos_clp_validator_status`.
pub const STATUSES: [&str; 4] = ["active", "slashed", "ejection_deferred", "ejected"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ValidatorLabel {
    /// The validator's genesis name.
    pub validator: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ValidatorStatusLabel {
    pub validator: String,
    pub status: String,
}

/// Every series; cheap to clone (each metric is an `Arc` inside).
#[derive(Clone)]
pub struct Metrics {
    pub challenges_issued: Counter,
    pub responses_received: Counter,
    pub responses_rejected: Family<ReasonLabel, Counter>,
    pub responses_included: Counter,
    pub validators_slashed: Counter,
    pub validators_ejected: Counter,
    pub chain_height: Gauge,
    pub blocks_synced: Counter,
    pub consensus_round: Gauge,
    pub consensus_rounds: Counter,
    pub peers_connected: Gauge,
    pub frames_rejected: Family<ReasonLabel, Counter>,
    pub validator_stake: Family<ValidatorLabel, Gauge>,
    pub validator_status: Family<ValidatorStatusLabel, Gauge>,
    pub validator_rate_bps: Family<ValidatorLabel, Gauge>,
    pub validator_consecutive_failures: Family<ValidatorLabel, Gauge>,
    pub validator_in_committee: Family<ValidatorLabel, Gauge>,
    pub validator_slashes: Family<ValidatorLabel, Counter>,
    pub validator_ejections: Family<ValidatorLabel, Counter>,
    registry: std::sync::Arc<Registry>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let m = Self {
            challenges_issued: Counter::default(),
            responses_received: Counter::default(),
            responses_rejected: Family::default(),
            responses_included: Counter::default(),
            validators_slashed: Counter::default(),
            validators_ejected: Counter::default(),
            chain_height: Gauge::default(),
            blocks_synced: Counter::default(),
            consensus_round: Gauge::default(),
            consensus_rounds: Counter::default(),
            peers_connected: Gauge::default(),
            frames_rejected: Family::default(),
            validator_stake: Family::default(),
            validator_status: Family::default(),
            validator_rate_bps: Family::default(),
            validator_consecutive_failures: Family::default(),
            validator_in_committee: Family::default(),
            validator_slashes: Family::default(),
            validator_ejections: Family::default(),
            registry: Default::default(),
        };
        let mut r = Registry::default();
        let c = |r: &mut Registry, name: &str, help: &str, metric: Counter| {
            r.register(name, help, metric)
        };
        c(
            &mut r,
            "alphaos_clp_challenges_issued",
            "challenges derived from finalized blocks",
            m.challenges_issued.clone(),
        );
        c(
            &mut r,
            "alphaos_clp_responses_received",
            "valid responses accepted (gossip or REST)",
            m.responses_received.clone(),
        );
        r.register(
            "alphaos_clp_responses_rejected",
            "refused responses by reason code",
            m.responses_rejected.clone(),
        );
        c(
            &mut r,
            "alphaos_clp_responses_included",
            "responses in finalized blocks",
            m.responses_included.clone(),
        );
        c(
            &mut r,
            "alphaos_clp_validators_slashed",
            "slashes applied at epoch ends",
            m.validators_slashed.clone(),
        );
        c(
            &mut r,
            "alphaos_clp_validators_ejected",
            "ejections",
            m.validators_ejected.clone(),
        );
        r.register(
            "alphaos_chain_height",
            "finalized height",
            m.chain_height.clone(),
        );
        c(
            &mut r,
            "alphaos_chain_blocks_synced",
            "blocks applied from block sync",
            m.blocks_synced.clone(),
        );
        r.register(
            "alphaos_consensus_round",
            "round of the height being decided",
            m.consensus_round.clone(),
        );
        c(
            &mut r,
            "alphaos_consensus_rounds",
            "rounds it took to decide the heights committed here (round + 1 each)",
            m.consensus_rounds.clone(),
        );
        r.register(
            "alphaos_p2p_peers_connected",
            "peers with an authenticated outbound link",
            m.peers_connected.clone(),
        );
        r.register(
            "alphaos_p2p_frames_rejected",
            "inbound frames or handshakes refused",
            m.frames_rejected.clone(),
        );
        r.register(
            "alphaos_clp_validator_stake",
            "bonded stake",
            m.validator_stake.clone(),
        );
        r.register(
            "alphaos_clp_validator_status",
            "1 for the current status, 0 for the others",
            m.validator_status.clone(),
        );
        r.register(
            "alphaos_clp_validator_response_rate_bps",
            "response rate of the current epoch, basis points",
            m.validator_rate_bps.clone(),
        );
        r.register(
            "alphaos_clp_validator_consecutive_failures",
            "challenges missed in a row",
            m.validator_consecutive_failures.clone(),
        );
        r.register(
            "alphaos_clp_validator_in_committee",
            "1 when in the current epoch's committee",
            m.validator_in_committee.clone(),
        );
        r.register(
            "alphaos_clp_validator_slashes",
            "epochs in which it was slashed",
            m.validator_slashes.clone(),
        );
        r.register(
            "alphaos_clp_validator_ejections",
            "times it was ejected",
            m.validator_ejections.clone(),
        );
        for reason in RejectReason::ALL {
            m.reject(reason, 0);
        }
        for reason in FRAME_REJECT_REASONS {
            m.frames_rejected
                .get_or_create(&ReasonLabel {
                    reason: reason.into(),
                })
                .inc_by(0);
        }
        Self {
            registry: std::sync::Arc::new(r),
            ..m
        }
    }

    /// Counts `n` refused responses (`n = 0` only creates the series).
    pub fn reject(&self, reason: RejectReason, n: u64) {
        self.responses_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.as_str().into(),
            })
            .inc_by(n);
    }

    /// Counts a refused P2P frame or handshake.
    pub fn frame_rejected(&self, reason: &str) {
        self.frames_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.into(),
            })
            .inc();
    }

    /// Sets the per-validator gauges of one validator (by genesis name).
    pub fn set_validator(
        &self,
        name: &str,
        stake: u64,
        status: &str,
        rate_bps: u64,
        consecutive_failures: u64,
        in_committee: bool,
    ) {
        let v = ValidatorLabel {
            validator: name.into(),
        };
        self.validator_stake.get_or_create(&v).set(as_i64(stake));
        self.validator_rate_bps
            .get_or_create(&v)
            .set(as_i64(rate_bps));
        self.validator_consecutive_failures
            .get_or_create(&v)
            .set(as_i64(consecutive_failures));
        self.validator_in_committee
            .get_or_create(&v)
            .set(i64::from(in_committee));
        // The counters exist (at 0) from the validator's first publication.
        self.validator_slashes.get_or_create(&v).inc_by(0);
        self.validator_ejections.get_or_create(&v).inc_by(0);
        for s in STATUSES {
            let label = ValidatorStatusLabel {
                validator: name.into(),
                status: s.into(),
            };
            self.validator_status
                .get_or_create(&label)
                .set(i64::from(s == status));
        }
    }

    /// The Prometheus text of every series.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Gauges are i64; stakes and heights beyond it are shown saturated.
pub fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .map(str::to_owned)
    }

    #[test]
    fn the_contract_series_are_there_from_the_start() {
        let text = Metrics::new().render();
        for name in [
            "alphaos_clp_challenges_issued_total",
            "alphaos_clp_responses_received_total",
            "alphaos_clp_validators_slashed_total",
            "alphaos_clp_validators_ejected_total",
            "alphaos_chain_height",
            "alphaos_clp_responses_included_total",
            "alphaos_consensus_round",
            "alphaos_p2p_peers_connected",
            "alphaos_chain_blocks_synced_total",
        ] {
            assert_eq!(
                value(&text, name).as_deref(),
                Some("0"),
                "{name} in\n{text}"
            );
        }
        for reason in RejectReason::ALL {
            let series = format!("alphaos_clp_responses_rejected_total{{reason=\"{reason}\"}}");
            assert_eq!(value(&text, &series).as_deref(), Some("0"), "{series}");
        }
        assert!(text.contains("# TYPE alphaos_clp_responses_rejected counter"));
        assert!(text.contains("# TYPE alphaos_chain_height gauge"));
    }

    #[test]
    fn counts_show_in_the_text() {
        let m = Metrics::new();
        m.reject(RejectReason::BadSignature, 2);
        m.chain_height.set(17);
        m.frame_rejected("oversized");
        m.set_validator("v4", 90000, "slashed", 3750, 5, true);
        let text = m.render();
        let bad = "alphaos_clp_responses_rejected_total{reason=\"BAD_SIGNATURE\"}";
        assert_eq!(value(&text, bad).as_deref(), Some("2"));
        assert_eq!(value(&text, "alphaos_chain_height").as_deref(), Some("17"));
        let frames = "alphaos_p2p_frames_rejected_total{reason=\"oversized\"}";
        assert_eq!(value(&text, frames).as_deref(), Some("1"));
        let stake = "alphaos_clp_validator_stake{validator=\"v4\"}";
        assert_eq!(value(&text, stake).as_deref(), Some("90000"));
        let slashed = "alphaos_clp_validator_status{validator=\"v4\",status=\"slashed\"}";
        assert_eq!(value(&text, slashed).as_deref(), Some("1"));
        let active = "alphaos_clp_validator_status{validator=\"v4\",status=\"active\"}";
        assert_eq!(value(&text, active).as_deref(), Some("0"));
    }
}
