//! The REST API end to end in-process (docs/protocol.md §11, §14, docs/hooks.md): a real
//! store and view over a chain of signed blocks, every endpoint's shape and errors.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use clp::RejectReason;
use clp_node_rs::api::{router, ApiState, MAX_BODY_BYTES};
use clp_node_rs::metrics::Metrics;
use clp_node_rs::store::Store;
use clp_node_rs::view::{response_channel, Hooks, View};
use common::{extend_chain, Net, TempDir, TOKEN};
use serde_json::{json, Value};
use tower::ServiceExt;

struct Fixture {
    app: Router,
    net: Net,
    view: Arc<View>,
    _data: TempDir,
}

/// A 4-validator chain of `height` blocks (v3 never answers), hooks on or off. POSTed
/// responses are judged by a stand-in loop with the manager's §5 check.
fn fixture(tag: &str, height: u64, hooks: bool) -> Fixture {
    let net = Net::new(tag, 4, hooks);
    let genesis = net.genesis();
    let data = TempDir::new(&format!("{tag}-data"));
    let store = Arc::new(Store::open(&Store::path_in(&data.0)).unwrap());
    let mut manager = genesis.clp_manager().unwrap();
    let view = Arc::new(View::new(
        &manager,
        genesis.hash(),
        Hooks::new(hooks),
        Metrics::new(),
    ));
    let blocks = extend_chain(&store, &mut manager, &net.keys, genesis.hash(), height);
    for (block, outcome) in &blocks {
        view.record_commit(block.responses.len(), outcome, false);
    }
    let head = blocks.last().map_or(genesis.hash(), |(b, _)| b.hash);
    view.publish(&manager, head);
    let (queue, mut rx) = response_channel();
    tokio::spawn(async move {
        while let Some(sub) = rx.recv().await {
            let verdict = manager.check_response(manager.height() + 1, &sub.response, &[]);
            let _ = sub.verdict.send(verdict);
        }
    });
    let state = ApiState {
        view: view.clone(),
        store,
        responses: queue,
        hooks_token: hooks.then(|| TOKEN.to_owned()),
    };
    Fixture {
        app: router(state),
        net,
        view,
        _data: data,
    }
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Value, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let body = if ctype.starts_with("application/json") {
        serde_json::from_str(&text).unwrap()
    } else {
        Value::Null
    };
    (status, body, text)
}

async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    let (s, b, _) = call(app, Request::get(path).body(Body::empty()).unwrap()).await;
    (s, b)
}

async fn post(
    app: &Router,
    path: &str,
    body: impl Into<Body>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = Request::post(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (s, b, _) = call(app, req.body(body.into()).unwrap()).await;
    (s, b)
}

/// `{"error": code, "detail": text}` with `status`.
fn is_error(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "{:?}", got.1);
    assert_eq!(got.1["error"], code, "{:?}", got.1);
    assert!(got.1["detail"].is_string(), "{:?}", got.1);
}

#[tokio::test]
async fn health_head_and_blocks() {
    let f = fixture("api-blocks", 7, false);
    assert_eq!(
        get(&f.app, "/health").await,
        (StatusCode::OK, json!({"status": "ok", "height": 7}))
    );
    let (s, head) = get(&f.app, "/alpha/chain/head").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (head["height"].clone(), head["epoch"].clone()),
        (json!(7), json!(0))
    );
    let (s, entry) = get(&f.app, "/alpha/chain/block/7").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(entry["height"], 7);
    assert_eq!(entry["block"]["hash"], head["hash"]);
    for key in [
        "chain_id",
        "height",
        "time_ms",
        "parent_hash",
        "proposer",
        "responses",
        "hash",
    ] {
        assert!(entry["block"].get(key).is_some(), "block lacks {key}");
    }
    assert_eq!(entry["responses"], entry["block"]["responses"]);
    // Block 3 answers the challenge of height 2 (v0..v2).
    let (_, three) = get(&f.app, "/alpha/chain/block/3").await;
    assert_eq!(three["responses"].as_array().unwrap().len(), 3);
    assert_eq!(three["responses"][0]["challenge_height"], 2);
    let cert = &entry["certificate"];
    assert_eq!(
        (cert["height"].clone(), cert["round"].clone()),
        (json!(7), json!(0))
    );
    assert_eq!(cert["block_hash"], head["hash"]);
    assert_eq!(cert["votes"].as_array().unwrap().len(), 4);
    assert_eq!(cert["votes"][0]["type"], "precommit");
    let (_, six) = get(&f.app, "/alpha/chain/block/6").await;
    assert_eq!(entry["block"]["parent_hash"], six["block"]["hash"]);

    is_error(
        &get(&f.app, "/alpha/chain/block/8").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    is_error(
        &get(&f.app, "/alpha/chain/block/0").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    is_error(
        &get(&f.app, "/alpha/chain/block/9223372036854775807").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    for bad in [
        "not-a-height",
        "-1",
        "1.5",
        "9223372036854775808",
        "99999999999999999999999",
    ] {
        is_error(
            &get(&f.app, &format!("/alpha/chain/block/{bad}")).await,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        );
    }
}

#[tokio::test]
async fn committees_status_validators_and_epoch_results() {
    let f = fixture("api-clp", 21, false);
    let genesis = f.net.genesis();
    let (s, c0) = get(&f.app, "/alpha/committee?epoch=0").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c0["epoch"], 0);
    assert_eq!(c0["total_stake"], 400000);
    let members: Vec<(String, String, u64)> = c0["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["address"].as_str().unwrap().into(),
                m["name"].as_str().unwrap().into(),
                m["stake"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, String, u64)> = genesis
        .validators
        .iter()
        .map(|v| (v.address.to_hex(), v.name.clone(), v.stake))
        .collect();
    assert_eq!(members, want, "address order, genesis names and stakes");
    // Height 21 is in epoch 1, whose committee exists after epoch 0 closed at 20.
    let (_, current) = get(&f.app, "/alpha/committee").await;
    assert_eq!(current["epoch"], 1);
    is_error(
        &get(&f.app, "/alpha/committee?epoch=2").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    is_error(
        &get(&f.app, "/alpha/committee?epoch=abc").await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );

    let (s, st) = get(&f.app, "/alpha/clp/status").await;
    assert_eq!(s, StatusCode::OK);
    for key in [
        "current_epoch",
        "height",
        "active_challenges",
        "validator_statuses",
        "last_epoch_result",
        "stakes",
        "burned",
    ] {
        assert!(st.get(key).is_some(), "status lacks {key}");
    }
    assert_eq!(
        (st["height"].clone(), st["current_epoch"].clone()),
        (json!(21), json!(1))
    );
    assert_eq!(st["last_epoch_result"]["epoch"], 0);
    let stakes: u64 = st["stakes"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        stakes + st["burned"].as_u64().unwrap(),
        400000,
        "conservation"
    );

    let (s, e0) = get(&f.app, "/alpha/clp/epoch/0").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(e0, st["last_epoch_result"]);
    // v3 never answered: it failed epoch 0 and was slashed.
    let v3 = f.net.keys[3].address.to_hex();
    let line = e0["validators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["address"] == v3.as_str())
        .unwrap();
    assert_eq!(line["status"], "slashed");
    is_error(
        &get(&f.app, "/alpha/clp/epoch/1").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    is_error(
        &get(&f.app, "/alpha/clp/epoch/x").await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );

    let (s, v) = get(&f.app, &format!("/alpha/clp/validator/{v3}")).await;
    assert_eq!(s, StatusCode::OK);
    for key in [
        "address",
        "response_rate",
        "consecutive_failures",
        "status",
        "stake",
        "slashed_total",
        "in_committee",
        "ejected_at_epoch",
        "governance_weight_bps",
    ] {
        assert!(v.get(key).is_some(), "validator lacks {key}");
    }
    assert_eq!(v["stake"], 90000);
    assert_eq!(v["slashed_total"], 10000);
    is_error(
        &get(&f.app, "/alpha/clp/validator/xyz").await,
        StatusCode::BAD_REQUEST,
        "BAD_ADDRESS",
    );
    let upper = v3.to_uppercase();
    is_error(
        &get(&f.app, &format!("/alpha/clp/validator/{upper}")).await,
        StatusCode::BAD_REQUEST,
        "BAD_ADDRESS",
    );
    let unknown = "ab".repeat(20);
    is_error(
        &get(&f.app, &format!("/alpha/clp/validator/{unknown}")).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );

    let (_, _, text) = call(
        &f.app,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert!(text.contains("alphaos_chain_height 21\n"), "{text}");
    assert!(
        text.contains("alphaos_clp_validators_slashed_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("alphaos_clp_challenges_issued_total 8\n"),
        "{text}"
    );
    assert!(
        text.contains("alphaos_clp_validator_slashes_total{validator=\"v3\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("alphaos_clp_validator_slashes_total{validator=\"v0\"} 0\n"),
        "{text}"
    );
    let v3_name = "v3";
    assert!(
        text.contains(&format!(
            "alphaos_clp_validator_stake{{validator=\"{v3_name}\"}} 90000\n"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn posted_responses_get_the_reason_of_the_first_broken_rule() {
    let f = fixture("api-post", 5, false);
    let path = "/alpha/clp/response";
    let json_ct = [("content-type", "application/json")];
    is_error(
        &post(&f.app, path, "{not json", &[]).await,
        StatusCode::BAD_REQUEST,
        "MALFORMED",
    );
    let v0 = f.net.keys[0].address.to_hex();
    let missing = json!({"challenge_height": 4, "validator": v0}).to_string();
    is_error(
        &post(&f.app, path, missing, &json_ct).await,
        StatusCode::BAD_REQUEST,
        "MALFORMED",
    );
    let sig = "00".repeat(64);
    let bad_addr = json!({"challenge_height": 4, "validator": "xyz", "signature": sig}).to_string();
    is_error(
        &post(&f.app, path, bad_addr, &json_ct).await,
        StatusCode::BAD_REQUEST,
        "MALFORMED",
    );
    let future = json!({"challenge_height": 1000, "validator": v0, "signature": sig}).to_string();
    is_error(
        &post(&f.app, path, future, &json_ct).await,
        StatusCode::BAD_REQUEST,
        "UNKNOWN_CHALLENGE",
    );
    let wrong =
        json!({"challenge_height": 4, "validator": f.net.keys[3].address, "signature": sig})
            .to_string();
    is_error(
        &post(&f.app, path, wrong, &json_ct).await,
        StatusCode::BAD_REQUEST,
        "BAD_SIGNATURE",
    );
    // v3's real answer to the open challenge of height 4 is valid for block 6.
    let ch = f
        .view
        .snapshot()
        .status
        .active_challenges
        .iter()
        .find(|c| c.height == 4)
        .cloned()
        .unwrap();
    let good = clp::ClpResponse::sign(
        common::CHAIN_ID,
        4,
        &ch.value,
        &f.net.keys[3].signing_key.to_bytes(),
    );
    let (s, body) = post(
        &f.app,
        path,
        serde_json::to_string(&good).unwrap(),
        &json_ct,
    )
    .await;
    assert_eq!((s, body), (StatusCode::ACCEPTED, json!({"accepted": true})));
    let big = vec![b'x'; 4 * MAX_BODY_BYTES];
    let (s, _) = post(&f.app, path, big, &json_ct).await;
    assert!(s.is_client_error(), "{s}");
    let (_, _, text) = call(
        &f.app,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    let malformed = format!(
        "alphaos_clp_responses_rejected_total{{reason=\"{}\"}} 3\n",
        RejectReason::Malformed
    );
    assert!(text.contains(&malformed), "{text}");
}

#[tokio::test]
async fn hooks_are_404_when_off() {
    let f = fixture("api-nohooks", 1, false);
    is_error(
        &get(&f.app, "/admin/faults").await,
        StatusCode::NOT_FOUND,
        "HOOKS_DISABLED",
    );
    let auth = [
        ("content-type", "application/json"),
        ("x-clp-hooks-token", TOKEN),
    ];
    is_error(
        &post(&f.app, "/admin/faults", r#"{"lazy": true}"#, &auth).await,
        StatusCode::NOT_FOUND,
        "HOOKS_DISABLED",
    );
    assert!(!f.view.hooks.lazy());
}

#[tokio::test]
async fn hooks_need_the_token_and_json_and_keep_what_is_not_sent() {
    let f = fixture("api-hooks", 1, true);
    let auth = [
        ("content-type", "application/json"),
        ("x-clp-hooks-token", TOKEN),
    ];
    let call_get = |token: &'static str| {
        let app = f.app.clone();
        async move {
            let req = Request::get("/admin/faults")
                .header("x-clp-hooks-token", token)
                .body(Body::empty())
                .unwrap();
            call(&app, req).await
        }
    };
    let (s, b, _) = call_get(TOKEN).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::OK,
            json!({"lazy": false, "clock_offset_ms": 0, "double_sign": false})
        )
    );
    is_error(
        &get(&f.app, "/admin/faults").await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    );
    let (s, _, _) = call_get("wrong-token-wrong-token-wrong-tok").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let plain = [("content-type", "text/plain"), ("x-clp-hooks-token", TOKEN)];
    is_error(
        &post(&f.app, "/admin/faults", r#"{"lazy": true}"#, &plain).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    let no_token = [("content-type", "application/json")];
    is_error(
        &post(&f.app, "/admin/faults", r#"{"lazy": true}"#, &no_token).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    );
    assert!(!f.view.hooks.lazy(), "refused requests change nothing");

    let r = post(&f.app, "/admin/faults", r#"{"lazy": true}"#, &auth).await;
    assert_eq!(
        r,
        (
            StatusCode::OK,
            json!({"lazy": true, "clock_offset_ms": 0, "double_sign": false})
        )
    );
    let r = post(
        &f.app,
        "/admin/faults",
        r#"{"clock_offset_ms": -3600000}"#,
        &auth,
    )
    .await;
    assert_eq!(
        r,
        (
            StatusCode::OK,
            json!({"lazy": true, "clock_offset_ms": -3600000, "double_sign": false})
        )
    );
    let r = post(&f.app, "/admin/faults", r#"{"double_sign": true}"#, &auth).await;
    assert_eq!(
        r,
        (
            StatusCode::OK,
            json!({"lazy": true, "clock_offset_ms": -3600000, "double_sign": true})
        )
    );
    assert!(f.view.hooks.take_double_sign());
    for bad in [
        r#"{"clock_offset_ms": 3600001}"#,
        r#"{"clock_offset_ms": 1.5}"#,
        r#"{"lazy": "yes"}"#,
        r#"{"double_sign": 1}"#,
        r#"{"other": 1}"#,
        "[]",
        "nope",
    ] {
        is_error(
            &post(&f.app, "/admin/faults", bad, &auth).await,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        );
    }
    assert_eq!(f.view.hooks.clock_offset_ms(), -3_600_000);
    assert!(f.view.hooks.lazy());
}

#[tokio::test]
async fn unknown_paths_methods_and_the_openapi_document() {
    let f = fixture("api-misc", 1, true);
    is_error(
        &get(&f.app, "/nope").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let req = Request::delete("/alpha/chain/head")
        .body(Body::empty())
        .unwrap();
    let resp = f.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(resp.headers()["allow"].to_str().unwrap().contains("GET"));
    is_error(
        &get(&f.app, "/alpha/clp/response").await,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );

    for (path, code) in [
        ("/alpha/chain/block/%FF", "BAD_REQUEST"),
        ("/alpha/clp/epoch/%FF", "BAD_REQUEST"),
        ("/alpha/clp/validator/%FF", "BAD_ADDRESS"),
    ] {
        is_error(&get(&f.app, path).await, StatusCode::BAD_REQUEST, code);
    }

    let (s, doc) = get(&f.app, "/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/health",
        "/alpha/chain/head",
        "/alpha/chain/block/{height}",
        "/alpha/committee",
        "/alpha/clp/status",
        "/alpha/clp/validator/{address}",
        "/alpha/clp/epoch/{epoch}",
        "/alpha/clp/response",
        "/metrics",
        "/openapi.json",
        "/admin/faults",
        "/alpha/consensus/status",
    ] {
        assert!(paths.contains_key(p), "/openapi.json lacks {p}");
        // Every documented path is served (a concrete path for the templated ones).
        let concrete = p
            .replace("{height}", "1")
            .replace("{address}", &"ab".repeat(20))
            .replace("{epoch}", "0");
        let method = if paths[p].get("get").is_some() {
            "GET"
        } else {
            "POST"
        };
        let req = Request::builder()
            .method(method)
            .uri(&concrete)
            .body(Body::empty())
            .unwrap();
        let (_, body, _) = call(&f.app, req).await;
        let unrouted = body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("no such path"));
        assert!(!unrouted, "{p} is documented but not served");
    }
    let (s, cs) = get(&f.app, "/alpha/consensus/status").await;
    assert_eq!(s, StatusCode::OK);
    assert!(cs.is_object());
}

#[tokio::test]
async fn at_an_epoch_end_the_current_epoch_is_the_next_blocks() {
    // Height 20 closes epoch 0 (E = 20): the head is in epoch 0, but committee(1) is in
    // force for the next block, and that is the "current epoch" of §11.
    let f = fixture("api-boundary", 20, false);
    let (_, head) = get(&f.app, "/alpha/chain/head").await;
    assert_eq!(
        (head["height"].clone(), head["epoch"].clone()),
        (json!(20), json!(0))
    );
    let (_, st) = get(&f.app, "/alpha/clp/status").await;
    assert_eq!(st["current_epoch"], 1);
    let (_, current) = get(&f.app, "/alpha/committee").await;
    assert_eq!(current["epoch"], 1);
    let v3 = f.net.keys[3].address.to_hex();
    let stake = current["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["address"] == v3.as_str())
        .unwrap()["stake"]
        .clone();
    assert_eq!(
        stake, 90000,
        "committee(1) carries the stakes after epoch 0's slashes"
    );
}

#[tokio::test]
async fn votes_and_answers_over_a_range() {
    use clp_consensus::{Vote, VoteType};
    let f = fixture("api-votes", 6, false);
    // Until the loop says it records them, neither is served (§11: 404, not applicable).
    is_error(
        &get(&f.app, "/alpha/consensus/votes").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    is_error(
        &get(&f.app, "/alpha/clp/answers").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    f.view.serve_ledger();
    let k = &f.net.keys;
    let hash = Some(clp::Hash32([7; 32]));
    let pc = Vote::sign(
        common::CHAIN_ID,
        VoteType::Precommit,
        5,
        0,
        hash,
        k[1].address,
        &k[1].signing_key,
    );
    let pv = Vote::sign(
        common::CHAIN_ID,
        VoteType::Prevote,
        5,
        0,
        None,
        k[0].address,
        &k[0].signing_key,
    );
    assert!(f.view.record_vote(&pc) && f.view.record_vote(&pv));
    f.view.record_answer(4, 1_764_620_000_900);
    let (s, body) = get(&f.app, "/alpha/consensus/votes?from=5&to=5").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            body["from"].clone(),
            body["to"].clone(),
            body["oldest"].clone()
        ),
        (json!(5), json!(5), json!(1))
    );
    let votes = body["votes"].as_array().unwrap();
    assert_eq!(votes.len(), 2);
    assert_eq!(
        votes[0]["type"], "prevote",
        "prevote (0x01) before precommit (0x02)"
    );
    assert_eq!(votes[0]["block_hash"], Value::Null);
    assert_eq!(votes[1]["block_hash"], "07".repeat(32));
    let (_, all) = get(&f.app, "/alpha/consensus/votes").await;
    assert_eq!(
        (all["from"].clone(), all["to"].clone()),
        (json!(1), json!(7)),
        "by default up to the height being decided"
    );
    assert_eq!(all["votes"].as_array().unwrap().len(), 2);
    let (_, answers) = get(&f.app, "/alpha/clp/answers").await;
    assert_eq!(answers["answers"].as_array().unwrap().len(), 1);
    for bad in [
        "from=5&to=4",
        "from=x",
        "from=1&to=300",
        "from=1&to=257",
        "to=-1",
        "from=1.5",
        "from=",
        "to=9223372036854775808",
        "from=%C2%B2",
        // `from` defaults to the oldest (votes: 1; answers: the oldest answer, 4).
        "to=300",
    ] {
        is_error(
            &get(&f.app, &format!("/alpha/consensus/votes?{bad}")).await,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        );
        is_error(
            &get(&f.app, &format!("/alpha/clp/answers?{bad}")).await,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        );
    }
    let (s, full) = get(&f.app, "/alpha/consensus/votes?from=1&to=256").await;
    assert_eq!(
        (s, full["votes"].as_array().unwrap().len()),
        (StatusCode::OK, 2)
    );
    let (s, answers) = get(&f.app, "/alpha/clp/answers?from=1&to=6").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        answers["answers"],
        json!([{"challenge_height": 4, "sent_at_ms": 1_764_620_000_900u64}])
    );
    assert_eq!(answers["validator"], json!(f.view.own_address()));
    f.view.record_answer(300, 17);
    f.view.record_answer(6, 1_764_620_001_000);
    let heights = |body: &Value| -> Vec<u64> {
        body["answers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["challenge_height"].as_u64().unwrap())
            .collect()
    };
    let (_, all) = get(&f.app, "/alpha/clp/answers").await;
    assert_eq!(
        heights(&all),
        vec![4, 6, 300],
        "by default every answer kept"
    );
    let (_, some) = get(&f.app, "/alpha/clp/answers?from=5&to=260").await;
    assert_eq!(heights(&some), vec![6]);
    let (_, tail) = get(&f.app, "/alpha/clp/answers?from=100").await;
    assert_eq!(
        heights(&tail),
        vec![300],
        "`to` defaults to the newest answer"
    );
}
