//! `clp-eval`: runs a chain's CLP with the Rust core and prints what happened, so that
//! tests can compare it with another implementation of docs/protocol.md §2–§8.
//!
//! Usage: `clp-eval [FIXTURE]` (the fixture is read from stdin without a path).
//!
//! A fixture is one JSON object, or a JSON list of them (evaluated independently, printed
//! as a list in the same order):
//!
//! ```json
//! {"chain_id": "clp-testnet",
//!  "clp": {"epoch_length": 20, "...": "every §2 parameter (genesis `clp` object)"},
//!  "validators": [{"name": "v0", "address": "…40 hex…", "public_key": "…64 hex…", "stake": 100000}],
//!  "blocks": [{"height": 1, "hash": "…64 hex…", "responses": [ClpResponse JSON, …]}]}
//! ```
//!
//! Blocks are applied in order and their heights must run 1, 2, 3, … Each response of a
//! block is judged first by the §5 rules against that block (after the accepted ones
//! before it in the same block); a response that is not a well-formed `ClpResponse` is
//! `MALFORMED`. Only the accepted responses are applied, as a proposer would have built
//! the block. The output is one JSON object per fixture:
//!
//! ```json
//! {"blocks": [{"height": 1, "verdicts": ["accepted", "DUPLICATE", …],
//!              "finalized": {"height", "responded", "missed"} or null,
//!              "challenge": ClpChallenge JSON or null}],
//!  "epochs": [ClpEpochResult JSON, …],
//!  "stakes": {"…address…": stake, …}, "burned": n}
//! ```
//!
//! A fixture that cannot be read or breaks a rule (bad JSON, bad genesis, a height out of
//! order) prints one line on stderr and exits with status 2.

use std::io::Read;
use std::process::ExitCode;

use clp::{
    ClpChallenge, ClpConfig, ClpEpochResult, ClpManager, ClpResponse, FinalizedChallenge,
    GenesisValidator, Hash32,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    chain_id: String,
    clp: ClpConfig,
    validators: Vec<GenesisValidator>,
    blocks: Vec<Block>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Block {
    height: u64,
    hash: Hash32,
    responses: Vec<Value>,
}

#[derive(Serialize)]
struct BlockReport {
    height: u64,
    verdicts: Vec<String>,
    finalized: Option<FinalizedChallenge>,
    challenge: Option<ClpChallenge>,
}

#[derive(Serialize)]
struct Report {
    blocks: Vec<BlockReport>,
    epochs: Vec<ClpEpochResult>,
    stakes: std::collections::BTreeMap<String, u64>,
    burned: u64,
}

/// Evaluates one fixture.
fn evaluate(fixture: Fixture) -> Result<Report, String> {
    let mut manager = ClpManager::new(&fixture.chain_id, fixture.clp, fixture.validators)
        .map_err(|e| format!("genesis: {e}"))?;
    let mut blocks = Vec::with_capacity(fixture.blocks.len());
    let mut epochs = Vec::new();
    for block in fixture.blocks {
        let mut verdicts = Vec::with_capacity(block.responses.len());
        let mut accepted: Vec<ClpResponse> = Vec::new();
        for raw in block.responses {
            let verdict = match serde_json::from_value::<ClpResponse>(raw) {
                Err(_) => clp::RejectReason::Malformed.as_str().to_string(),
                Ok(r) => match manager.check_response(block.height, &r, &accepted) {
                    Ok(()) => {
                        accepted.push(r);
                        "accepted".to_string()
                    }
                    Err(reason) => reason.as_str().to_string(),
                },
            };
            verdicts.push(verdict);
        }
        let outcome = manager
            .apply_block(block.height, &block.hash, &accepted)
            .map_err(|e| format!("block {}: {e}", block.height))?;
        epochs.extend(outcome.epoch_result);
        blocks.push(BlockReport {
            height: block.height,
            verdicts,
            finalized: outcome.challenge_finalized,
            challenge: outcome.challenge,
        });
    }
    Ok(Report {
        blocks,
        epochs,
        stakes: manager
            .stakes()
            .iter()
            .map(|(a, s)| (a.to_hex(), *s))
            .collect(),
        burned: manager.burned(),
    })
}

fn run() -> Result<String, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let text = match args.as_slice() {
        [] => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("stdin: {e}"))?;
            s
        }
        [path] => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
        _ => return Err("usage: clp-eval [FIXTURE]".to_string()),
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("fixture: {e}"))?;
    let one = |v: Value, i: Option<usize>| -> Result<Value, String> {
        let at = i.map_or(String::new(), |i| format!("[{i}]"));
        let f: Fixture = serde_json::from_value(v).map_err(|e| format!("fixture{at}: {e}"))?;
        let r = evaluate(f).map_err(|e| format!("fixture{at}: {e}"))?;
        serde_json::to_value(r).map_err(|e| format!("fixture{at}: {e}"))
    };
    let out = match value {
        Value::Array(list) => Value::Array(
            list.into_iter()
                .enumerate()
                .map(|(i, v)| one(v, Some(i)))
                .collect::<Result<_, _>>()?,
        ),
        v => one(v, None)?,
    };
    Ok(out.to_string())
}

fn main() -> ExitCode {
    match run() {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("clp-eval: {}", e.replace('\n', " "));
            ExitCode::from(2)
        }
    }
}
