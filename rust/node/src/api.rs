//! The REST API of docs/protocol.md §11 (and the §14 hooks of docs/hooks.md), over the
//! [`View`] and the [`Store`]. Errors are `{"error": CODE, "detail": text}`:
//! 400 `BAD_REQUEST` for a malformed parameter, 404 `NOT_FOUND` for what does not exist
//! (yet), 400 with the §5 reason for a refused response, 405 `METHOD_NOT_ALLOWED` (with
//! `Allow`), 413 `PAYLOAD_TOO_LARGE` for a body over 1 MiB.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clp::{Address, ClpResponse, Committee};
use serde_json::{json, Value};

use crate::metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;
use crate::store::Store;
use crate::view::{FaultsChange, ResponseQueue, Unavailable, View, MAX_CLOCK_OFFSET_MS};

/// The largest request body (§11: an oversized body gets a 4xx).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The header that carries the hooks token (docs/hooks.md).
pub const HOOKS_TOKEN_HEADER: &str = "x-clp-hooks-token";

/// What every handler reads.
#[derive(Clone)]
pub struct ApiState {
    pub view: Arc<View>,
    pub store: Arc<Store>,
    pub responses: ResponseQueue,
    /// `Some(token)` when the test hooks are on.
    pub hooks_token: Option<String>,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            detail: detail.into(),
        }
    }
    fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", detail)
    }
    fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.code, "detail": self.detail})),
        )
            .into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(value: impl serde::Serialize) -> ApiResult {
    Ok(Json(value).into_response())
}

/// The router of every endpoint.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/alpha/chain/head", get(head))
        .route("/alpha/chain/block/{height}", get(block))
        .route("/alpha/committee", get(committee))
        .route("/alpha/clp/status", get(clp_status))
        .route("/alpha/clp/validator/{address}", get(validator))
        .route("/alpha/clp/epoch/{epoch}", get(epoch_result))
        .route("/alpha/clp/response", axum::routing::post(post_response))
        .route("/alpha/consensus/status", get(consensus_status))
        .route("/alpha/consensus/votes", get(votes))
        .route("/alpha/clp/answers", get(answers))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/admin/faults", get(get_faults).post(post_faults))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such path: {}", uri.path()))
}

async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{} does not take this method", uri.path()),
    )
}

/// A height, epoch or other index: decimal digits, at most `i64::MAX` (what SQLite and
/// every JSON client hold exactly).
pub fn parse_index(what: &str, text: &str) -> Result<u64, ApiError> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(n) if digits && n <= i64::MAX as u64 => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "{what} {text:?} is not an integer in 0..={}",
            i64::MAX
        ))),
    }
}

async fn health(State(s): State<ApiState>) -> ApiResult {
    ok(json!({"status": "ok", "height": s.view.snapshot().head.height}))
}

async fn head(State(s): State<ApiState>) -> ApiResult {
    ok(s.view.snapshot().head)
}

async fn block(
    State(s): State<ApiState>,
    height: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let Path(height) = height.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let h = parse_index("height", &height)?;
    // The published head, not the store's: a block is served once its state is.
    if h == 0 || h > s.view.snapshot().head.height {
        return Err(ApiError::not_found(format!("block {h} is not finalized")));
    }
    let row = s
        .store
        .block_row(h)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "STORE", e.to_string()))?
        .ok_or_else(|| ApiError::not_found(format!("block {h} is not finalized")))?;
    let parse = |text: &str| {
        serde_json::from_str::<Value>(text)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "STORE", e.to_string()))
    };
    let block = parse(&row.block)?;
    let certificate = parse(&row.certificate)?;
    let responses = block.get("responses").cloned().unwrap_or(json!([]));
    ok(json!({"height": h, "block": block, "responses": responses, "certificate": certificate}))
}

fn committee_json(c: &Committee) -> Value {
    let members: Vec<Value> = c
        .members
        .iter()
        .map(|m| json!({"address": m.address, "name": m.name, "stake": m.stake}))
        .collect();
    json!({"epoch": c.epoch, "members": members, "total_stake": c.total_stake})
}

async fn committee(
    State(s): State<ApiState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let snap = s.view.snapshot();
    let epoch = match q.get("epoch") {
        // §11's current epoch: the next block's, whose committee is in force.
        None => snap.status.current_epoch,
        Some(text) => parse_index("epoch", text)?,
    };
    let c = usize::try_from(epoch)
        .ok()
        .and_then(|e| snap.committees.get(e))
        .ok_or_else(|| {
            ApiError::not_found(format!("the committee of epoch {epoch} is not known yet"))
        })?;
    ok(committee_json(c))
}

async fn clp_status(State(s): State<ApiState>) -> ApiResult {
    ok(&s.view.snapshot().status)
}

async fn validator(
    State(s): State<ApiState>,
    address: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let Path(address) = address
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_ADDRESS", e.body_text()))?;
    let a: Address = address.parse().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_ADDRESS",
            format!("{address:?} is not an address (40 lowercase hex characters): {e}"),
        )
    })?;
    let snap = s.view.snapshot();
    let info = snap
        .validators
        .get(&a)
        .ok_or_else(|| ApiError::not_found(format!("{a} is not a validator of this chain")))?;
    ok(info)
}

async fn epoch_result(
    State(s): State<ApiState>,
    epoch: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let Path(epoch) = epoch.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let e = parse_index("epoch", &epoch)?;
    let snap = s.view.snapshot();
    let r = usize::try_from(e)
        .ok()
        .and_then(|i| snap.results.get(i))
        .ok_or_else(|| ApiError::not_found(format!("epoch {e} is not evaluated yet")))?;
    ok(r)
}

/// A body over [`MAX_BODY_BYTES`] (or unreadable) is refused before it is parsed.
fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "PAYLOAD_TOO_LARGE",
                format!("the body is over {MAX_BODY_BYTES} bytes"),
            )
        } else {
            ApiError::new(status, "BAD_REQUEST", e.body_text())
        }
    })
}

async fn post_response(
    State(s): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let malformed = |detail: String| {
        s.view.metrics.reject(clp::RejectReason::Malformed, 1);
        ApiError::new(StatusCode::BAD_REQUEST, "MALFORMED", detail)
    };
    let body = body_of(body)?;
    let response: ClpResponse =
        serde_json::from_slice(&body).map_err(|e| malformed(format!("not a ClpResponse: {e}")))?;
    match s.responses.submit(response).await {
        Ok(Ok(())) => Ok((StatusCode::ACCEPTED, Json(json!({"accepted": true}))).into_response()),
        Ok(Err(reason)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            reason.as_str(),
            format!("not valid for the next block: {reason}"),
        )),
        Err(Unavailable::Busy) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "BUSY",
            "too many responses waiting; try again",
        )),
        Err(Unavailable::Stopped) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "STOPPING",
            "the node is stopping",
        )),
    }
}

/// The most heights one `from`/`to` range may span (§11).
pub const MAX_RANGE_HEIGHTS: u64 = 256;

fn ledger_served(s: &ApiState) -> Result<(), ApiError> {
    if s.view.ledger_served() {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "this node does not serve its votes and answers",
        ))
    }
}

/// `from`/`to` of the votes and answers endpoints: each defaults to the held window's
/// end (`oldest`, `newest`); a reversed range or an asked one of more than
/// [`MAX_RANGE_HEIGHTS`] heights is a 400.
fn height_range(
    q: &HashMap<String, String>,
    oldest: u64,
    newest: u64,
) -> Result<(u64, u64), ApiError> {
    let from = q.get("from").map(|t| parse_index("from", t)).transpose()?;
    let to = q.get("to").map(|t| parse_index("to", t)).transpose()?;
    let (a, b) = (from.unwrap_or(oldest), to.unwrap_or(newest.max(oldest)));
    if a > b {
        return Err(ApiError::bad_request(format!("from {a} is above to {b}")));
    }
    if (from.is_some() || to.is_some()) && b - a >= MAX_RANGE_HEIGHTS {
        return Err(ApiError::bad_request(format!(
            "{a}..={b} spans more than {MAX_RANGE_HEIGHTS} heights"
        )));
    }
    Ok((a, b))
}

async fn votes(
    State(s): State<ApiState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    ledger_served(&s)?;
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    // The window ends with the height being decided, the one after the head.
    let deciding = s.view.snapshot().head.height + 1;
    let (from, to) = height_range(&q, s.view.ledger_oldest(), deciding)?;
    let (votes, oldest) = s.view.votes(from, to);
    ok(json!({"from": from, "to": to, "oldest": oldest, "votes": votes}))
}

async fn answers(
    State(s): State<ApiState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    ledger_served(&s)?;
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    // By default every answer kept.
    let (oldest, newest) = s.view.answer_span().unwrap_or_else(|| {
        let head = s.view.snapshot().head.height;
        (head.max(1), head)
    });
    let (from, to) = height_range(&q, oldest, newest)?;
    let (answers, _) = s.view.answers(from, to);
    let answers: Vec<Value> = answers
        .into_iter()
        .map(|(h, t)| json!({"challenge_height": h, "sent_at_ms": t}))
        .collect();
    ok(json!({"validator": s.view.own_address(), "answers": answers}))
}

async fn consensus_status(State(s): State<ApiState>) -> ApiResult {
    ok(s.view.consensus_status())
}

async fn metrics(State(s): State<ApiState>) -> Response {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        s.view.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> ApiResult {
    ok(crate::openapi::document())
}

/// Same length and bytes, compared without an early exit.
fn same_token(given: &[u8], want: &[u8]) -> bool {
    given.len() == want.len()
        && given
            .iter()
            .zip(want)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// docs/hooks.md: 404 when the hooks are off, 401 without the right token.
fn hooks_allowed(s: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &s.hooks_token else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "HOOKS_DISABLED",
            "test hooks are not enabled in this node's config",
        ));
    };
    let given = headers
        .get(HOOKS_TOKEN_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !same_token(given, token.as_bytes()) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "the X-CLP-Hooks-Token header is missing or wrong",
        ));
    }
    Ok(())
}

async fn get_faults(State(s): State<ApiState>, headers: HeaderMap) -> ApiResult {
    hooks_allowed(&s, &headers)?;
    ok(s.view.hooks.get())
}

/// An integer, or a float with no fractional part (JSON does not tell `5` from `5.0`).
fn integral(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= 2f64.powi(53))
            .map(|f| f as i64)
    })
}

async fn post_faults(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    hooks_allowed(&s, &headers)?;
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "the body must be Content-Type: application/json",
        ));
    }
    let body = body_of(body)?;
    let doc: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not JSON: {e}")))?;
    let Value::Object(map) = doc else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    if let Some(k) = map
        .keys()
        .find(|k| !["lazy", "clock_offset_ms", "double_sign"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown key {k:?}: only lazy, clock_offset_ms and double_sign"
        )));
    }
    let flag = |name: &str| match map.get(name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::bad_request(format!(
            "{name} must be true or false"
        ))),
    };
    let lazy = flag("lazy")?;
    let double_sign = flag("double_sign")?;
    let range = format!("an integer within ±{MAX_CLOCK_OFFSET_MS}");
    let offset = match map.get("clock_offset_ms") {
        None => None,
        Some(v) => match integral(v) {
            Some(o) if (-MAX_CLOCK_OFFSET_MS..=MAX_CLOCK_OFFSET_MS).contains(&o) => Some(o),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "clock_offset_ms must be {range}"
                )))
            }
        },
    };
    s.view
        .hooks
        .set(FaultsChange {
            lazy,
            clock_offset_ms: offset,
            double_sign,
        })
        .map_err(ApiError::bad_request)
        .and_then(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_plain_decimal_within_i64() {
        assert_eq!(parse_index("h", "0"), Ok(0));
        assert_eq!(parse_index("h", "9223372036854775807"), Ok(i64::MAX as u64));
        for bad in [
            "",
            "-1",
            "+1",
            "1.0",
            "abc",
            " 1",
            "9223372036854775808",
            &"7".repeat(5000),
        ] {
            let e = parse_index("h", bad).unwrap_err();
            assert_eq!(
                (e.status, e.code.as_str()),
                (StatusCode::BAD_REQUEST, "BAD_REQUEST")
            );
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(b"abcd", b"abcd"));
        assert!(!same_token(b"abce", b"abcd"));
        assert!(!same_token(b"abc", b"abcd"));
        assert!(!same_token(b"", b"abcd"));
    }

    #[test]
    fn integral_floats_are_integers() {
        assert_eq!(integral(&json!(-869.0)), Some(-869));
        assert_eq!(integral(&json!(5)), Some(5));
        assert_eq!(integral(&json!(1.5)), None);
        assert_eq!(integral(&json!("5")), None);
        assert_eq!(integral(&json!(true)), None);
    }
}
