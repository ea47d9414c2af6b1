//! The OpenAPI document served at `GET /openapi.json`: every path of docs/protocol.md §11
//! with its parameters, answers and error shape. Written by hand; `tests/api.rs` checks
//! that it lists every route the router serves.

use serde_json::{json, Value};

fn error_ref() -> Value {
    json!({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}})
}

fn answer(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn error(description: &str) -> Value {
    json!({"description": description, "content": error_ref()})
}

fn index_param(name: &str, location: &str, description: &str, required: bool) -> Value {
    json!({"name": name, "in": location, "required": required, "description": description,
           "schema": {"type": "integer", "minimum": 0, "maximum": i64::MAX}})
}

/// The document.
pub fn document() -> Value {
    let obj = json!({"type": "object"});
    let hooks_token = json!({"name": "X-CLP-Hooks-Token", "in": "header", "required": true,
                             "schema": {"type": "string"},
                             "description": "the testnet's hooks token (docs/hooks.md)"});
    let faults = json!({"$ref": "#/components/schemas/Faults"});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "CLP node (clp-node-rs)", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The node contract of docs/protocol.md §11 and §14."},
        "paths": {
            "/health": {"get": {"summary": "liveness and finalized height",
                "responses": {"200": answer("ok", json!({"type": "object",
                    "required": ["status", "height"],
                    "properties": {"status": {"const": "ok"}, "height": {"type": "integer"}}}))}}},
            "/alpha/chain/head": {"get": {"summary": "the finalized head",
                "responses": {"200": answer("head", json!({"type": "object",
                    "required": ["height", "hash", "epoch"],
                    "properties": {"height": {"type": "integer"},
                                   "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                   "epoch": {"type": "integer"}}}))}}},
            "/alpha/chain/block/{height}": {"get": {"summary": "a finalized block with its certificate (§9)",
                "parameters": [index_param("height", "path", "block height", true)],
                "responses": {"200": answer("the block", json!({"type": "object",
                                  "required": ["height", "block", "responses", "certificate"]})),
                              "400": error("not an integer"),
                              "404": error("not finalized")}}},
            "/alpha/committee": {"get": {"summary": "committee(epoch), default the current epoch",
                "parameters": [index_param("epoch", "query", "epoch", false)],
                "responses": {"200": answer("the committee", json!({"type": "object",
                                  "required": ["epoch", "members", "total_stake"]})),
                              "400": error("malformed epoch"),
                              "404": error("not known yet")}}},
            "/alpha/clp/status": {"get": {"summary": "CLP state at the head",
                "responses": {"200": answer("status", json!({"type": "object",
                    "required": ["current_epoch", "height", "active_challenges",
                                 "validator_statuses", "last_epoch_result", "stakes", "burned"]}))}}},
            "/alpha/clp/validator/{address}": {"get": {"summary": "one validator's CLP record",
                "parameters": [{"name": "address", "in": "path", "required": true,
                                "schema": {"type": "string"}}],
                "responses": {"200": answer("the validator", json!({"type": "object",
                    "required": ["address", "response_rate", "consecutive_failures", "status",
                                 "stake", "slashed_total", "in_committee", "ejected_at_epoch",
                                 "governance_weight_bps"]})),
                              "400": error("BAD_ADDRESS"),
                              "404": error("not a validator")}}},
            "/alpha/clp/epoch/{epoch}": {"get": {"summary": "ClpEpochResult of an evaluated epoch (§8)",
                "parameters": [index_param("epoch", "path", "epoch", true)],
                "responses": {"200": answer("the result", obj.clone()),
                              "400": error("not an integer"),
                              "404": error("not evaluated yet")}}},
            "/alpha/clp/response": {"post": {"summary": "submit a ClpResponse (§5)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": false,
                    "required": ["challenge_height", "validator", "signature"],
                    "properties": {
                        "challenge_height": {"type": "integer", "minimum": 0},
                        "validator": {"type": "string", "pattern": "^[0-9a-f]{40}$"},
                        "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"}}}}}},
                "responses": {"202": answer("accepted for the next block", json!({"type": "object",
                                  "required": ["accepted"], "properties": {"accepted": {"const": true}}})),
                              "400": error("refused: error is the §5 reason code"),
                              "413": error("body over 1 MiB"),
                              "503": error("the node cannot judge it now")}}},
            "/alpha/consensus/votes": {"get": {"summary": "signed prevotes and precommits held, heights from..=to",
                "parameters": [index_param("from", "query", "first height (default: the oldest held)", false),
                               index_param("to", "query", "last height (default: the head)", false)],
                "responses": {"200": answer("votes", json!({"type": "object",
                                  "required": ["from", "to", "oldest", "votes"]})),
                              "400": error("malformed or reversed range, or more than 256 heights"),
                              "404": error("not served by this node")}}},
            "/alpha/clp/answers": {"get": {"summary": "this node's own answers to challenges from..=to",
                "parameters": [index_param("from", "query", "first challenge height (default: the oldest held)", false),
                               index_param("to", "query", "last challenge height (default: the head)", false)],
                "responses": {"200": answer("answers", json!({"type": "object",
                                  "required": ["validator", "answers"]})),
                              "400": error("malformed or reversed range, or more than 256 heights"),
                              "404": error("not served by this node")}}},
            "/alpha/consensus/status": {"get": {"summary": "consensus diagnostics (round, peers, pool)",
                "responses": {"200": answer("status", obj.clone())}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (§13)",
                "responses": {"200": {"description": "OpenMetrics text",
                    "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"summary": "this document",
                "responses": {"200": answer("OpenAPI", obj)}}},
            "/admin/faults": {
                "get": {"summary": "the test hooks in force (§14)",
                    "parameters": [hooks_token.clone()],
                    "responses": {"200": answer("hooks", faults.clone()),
                                  "401": error("token missing or wrong"),
                                  "404": error("hooks disabled")}},
                "post": {"summary": "set test hooks (§14)",
                    "parameters": [hooks_token],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {
                        "type": "object", "additionalProperties": false,
                        "properties": {"lazy": {"type": "boolean"},
                                       "clock_offset_ms": {"type": "integer",
                                           "minimum": -3_600_000, "maximum": 3_600_000},
                                       "double_sign": {"type": "boolean"}}}}}},
                    "responses": {"200": answer("hooks now in force", faults),
                                  "400": error("unknown key or bad value"),
                                  "401": error("token missing or wrong"),
                                  "404": error("hooks disabled"),
                                  "415": error("not application/json")}}}
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "detail"],
                      "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}},
            "Faults": {"type": "object", "required": ["lazy", "clock_offset_ms", "double_sign"],
                       "properties": {"lazy": {"type": "boolean"},
                                      "clock_offset_ms": {"type": "integer"},
                                      "double_sign": {"type": "boolean"}}}
        }}
    })
}
