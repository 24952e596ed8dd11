//! One error type for every handler, answered as Redash does: an HTTP status and a JSON body
//! `{"message": "..."}`.
//!
//! Internal failures are logged with their cause and answered with a generic message, so a
//! database error never leaks connection strings or SQL to a client.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// A failed request: its status and the message the client sees.
#[derive(Debug)]
pub struct AppError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The message sent as `{"message": ...}`.
    pub message: String,
}

impl AppError {
    /// A failure with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> AppError {
        AppError {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is malformed or invalid.
    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no valid credentials.
    pub fn unauthorized() -> AppError {
        AppError::new(
            StatusCode::UNAUTHORIZED,
            "Authentication required: send an API key (Authorization: Key <key>) or log in.",
        )
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: no such object.
    pub fn not_found(what: impl Into<String>) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, what)
    }

    /// 409: the object changed since the caller read it.
    pub fn conflict(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::CONFLICT, message)
    }

    /// 500: an internal failure; `cause` is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> AppError {
        tracing::error!(cause = %cause, "internal error");
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error; the server log has the details.",
        )
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "message": self.message })),
        )
            .into_response()
    }
}

impl From<PathRejection> for AppError {
    fn from(r: PathRejection) -> AppError {
        AppError::new(
            StatusCode::NOT_FOUND,
            format!("Not found: {}", r.body_text()),
        )
    }
}

/// `Path` whose rejection is an [`AppError`]: an id that does not parse names no object, so it
/// is a 404 with a JSON message, like any other unknown id.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct AppPath<T>(pub T);

impl From<cairn_exec::queue::QueueError> for AppError {
    fn from(e: cairn_exec::queue::QueueError) -> AppError {
        AppError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

/// A JSON body whose rejections are [`AppError`]s, so malformed input gets the same JSON shape.
///
/// Like Redash (`get_json(force=True)`), the body is parsed whatever its `Content-Type`, because
/// existing clients do not always send one; an empty body reads as `{}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| AppError::new(e.status(), e.body_text()))?;
        let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &body
        };
        serde_json::from_slice(body)
            .map(AppJson)
            .map_err(|e| AppError::bad_request(format!("Invalid JSON body: {e}")))
    }
}

/// The result type of handlers.
pub type AppResult<T> = Result<T, AppError>;

impl From<cairn_store::StoreError> for AppError {
    fn from(e: cairn_store::StoreError) -> AppError {
        use cairn_store::StoreError as E;
        match e {
            E::NotFound(what) => AppError::not_found(format!("{} not found.", capitalize(what))),
            E::Conflict(_) => AppError::conflict(
                "The object has changed since you last loaded it: reload it and apply your change again.",
            ),
            E::Duplicate(what) => AppError::bad_request(format!("A {what} already exists.")),
            E::Invalid(msg) => AppError::bad_request(capitalize(&msg)),
            other => AppError::internal(other),
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
