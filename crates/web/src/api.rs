//! The routes: the page's assets and the JSON API under `/api/` (documented in the README).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::Stream;
use hamlet_core::town::SimTime;
use serde::{Deserialize, Serialize};

use crate::agent::Answer;
use crate::assets::ASSETS;
use crate::serve::{Data, Shared};
use crate::town::TownLog;

type St = State<Arc<Shared>>;

/// Records sent per event-stream read.
const STREAM_BATCH: usize = 500;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let mut r = Router::new();
    for (path, content_type, body) in ASSETS {
        r = r.route(
            path,
            get(move || async move { ([(header::CONTENT_TYPE, *content_type)], *body) }),
        );
    }
    r.route("/api/summary", get(summary))
        .route("/api/town/snapshot", get(snapshot))
        .route("/api/town/agent/{name}", get(agent_detail))
        .route("/api/agent/steps", get(steps))
        .route("/api/agent/approval", get(approval).post(answer))
        .route("/api/events", get(events))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page or API route".into()) })
        .with_state(shared)
}

fn json<T: Serialize>(v: &T) -> Response {
    match serde_json::to_string(v) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding JSON: {e}"),
        ),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

fn poisoned() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the log's lock was poisoned by a panic".into(),
    )
}

fn not_a(kind: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("this run is not {kind}: see /api/summary for what it is"),
    )
}

async fn summary(State(s): St) -> Response {
    match &s.data {
        Data::Town(log) => match log.read() {
            Ok(log) => json(&log.summary()),
            Err(_) => poisoned(),
        },
        Data::Agent(log) => match log.read() {
            Ok(log) => json(&log.summary()),
            Err(_) => poisoned(),
        },
    }
}

/// `?at=` a time (`"day 1 08:30"`, `"08:30"` or seconds) or `?index=` a record count; neither:
/// the newest.
#[derive(Debug, Deserialize)]
struct At {
    at: Option<String>,
    index: Option<usize>,
}

impl At {
    /// The record count to show; a time that does not parse is the reason, for a 400.
    fn index(&self, log: &TownLog) -> Result<usize, String> {
        if let Some(i) = self.index {
            return Ok(i.clamp(1, log.len().max(1)).min(log.len()));
        }
        match self.at.as_deref().map(str::trim) {
            None | Some("") | Some("latest") => Ok(log.len()),
            Some(at) => {
                let time = match at.parse::<u64>() {
                    Ok(secs) => SimTime(secs),
                    Err(_) => SimTime::parse(at).map_err(|e| format!("at: {e}"))?,
                };
                Ok(log.index_at(time))
            }
        }
    }
}

async fn snapshot(State(s): St, Query(at): Query<At>) -> Response {
    let Data::Town(log) = &s.data else {
        return not_a("a town run");
    };
    let Ok(log) = log.read() else {
        return poisoned();
    };
    if log.is_empty() {
        return error(StatusCode::NOT_FOUND, "the run has not started".into());
    }
    let index = match at.index(&log) {
        Ok(i) => i,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let frame = log.frame_at(index);
    json(&log.snapshot_view(index, &frame))
}

async fn agent_detail(State(s): St, Path(name): Path<String>, Query(at): Query<At>) -> Response {
    let Data::Town(log) = &s.data else {
        return not_a("a town run");
    };
    let Ok(log) = log.read() else {
        return poisoned();
    };
    let index = match at.index(&log) {
        Ok(i) => i,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let frame = log.frame_at(index);
    match log.agent_detail(&name, index, &frame) {
        Some(d) => json(&d),
        None => error(
            StatusCode::NOT_FOUND,
            format!("the town has no agent {name:?} at this time"),
        ),
    }
}

#[derive(Serialize)]
struct Steps<'a, S, E> {
    #[serde(flatten)]
    summary: S,
    entries: E,
    /// Whether approvals can be answered on this page (the run was started with `--web`).
    approvals: bool,
    run_dir: &'a str,
}

async fn steps(State(s): St) -> Response {
    let Data::Agent(log) = &s.data else {
        return not_a("an agent run");
    };
    let Ok(log) = log.read() else {
        return poisoned();
    };
    let run_dir = s.run_dir.display().to_string();
    json(&Steps {
        summary: log.summary(),
        entries: log.entries(),
        approvals: s.approvals.is_some(),
        run_dir: &run_dir,
    })
}

async fn approval(State(s): St) -> Response {
    match &s.approvals {
        Some(a) => json(&serde_json::json!({ "pending": a.pending() })),
        None => json(
            &serde_json::json!({ "pending": null, "note": "approvals are answered here only for a run started with --web" }),
        ),
    }
}

#[derive(Debug, Deserialize)]
struct Answered {
    id: u64,
    #[serde(flatten)]
    answer: Answer,
}

async fn answer(State(s): St, body: String) -> Response {
    let Some(a) = &s.approvals else {
        return error(
            StatusCode::CONFLICT,
            "this run does not take approvals from the page: start it with hamlet run --web".into(),
        );
    };
    let answered: Answered = match serde_json::from_str(&body) {
        Ok(x) => x,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"id\": N, \"answer\": \"run\"|\"run_all\"|\"decline\"|\"quit\", \"feedback\": \"...\"}}: {e}"),
            )
        }
    };
    match a.answer(answered.id, answered.answer) {
        Ok(()) => json(&serde_json::json!({ "ok": true })),
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct From {
    from: Option<usize>,
}

/// Server-sent events: every record from `?from=` (default 0) on, each as `id: N` and
/// `data: <the JSON line>`, then new ones as the log grows.
async fn events(
    State(s): St,
    Query(q): Query<From>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = s.changed.subscribe();
    let start = (s, q.from.unwrap_or(0), rx, VecDeque::new());
    let stream =
        futures_util::stream::unfold(start, |(s, mut next, mut rx, mut queue)| async move {
            loop {
                if let Some(ev) = queue.pop_front() {
                    return Some((Ok(ev), (s, next, rx, queue)));
                }
                rx.borrow_and_update();
                let batch = s.records_from(next, STREAM_BATCH);
                if batch.is_empty() {
                    if rx.changed().await.is_err() {
                        return None;
                    }
                    continue;
                }
                next += batch.len();
                queue.extend(
                    batch
                        .into_iter()
                        .map(|(i, line)| Event::default().id(i.to_string()).data(line)),
                );
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
