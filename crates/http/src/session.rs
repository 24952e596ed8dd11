//! Browser sessions: login and logout with a signed cookie, CSRF protection, and a login rate
//! limit.
//!
//! The web UI cannot hold an API key safely in page script, so a browser authenticates with a
//! cookie instead. The cookie `cairn_session` carries `<user id>.<issued at>.<csrf token>.<mac>`:
//! the MAC is HMAC-SHA256 over the first three fields with the server's cookie secret
//! (`REDASH_COOKIE_SECRET`, or one derived from the store's secret key), so the server keeps no
//! session table and any server with the same secret accepts it. The cookie is `HttpOnly` (page
//! script cannot read it) and `SameSite=Lax` (other sites' forms do not send it on POST).
//!
//! CSRF uses a double-submit token bound to the session: the token is inside the signed cookie
//! and also given to the page (response body and the readable cookie `cairn_csrf`). A request
//! authenticated by the cookie with a state-changing method must echo it in `X-CSRF-Token`; a
//! page on another origin can make the browser send the cookie but cannot read the token.
//!
//! Login attempts are limited per client IP and per email (Redash's default: 50 an hour) by
//! [`AppState::login_limiter`]: in this process's memory by default, shared by every replica
//! through Redis under `cairn server` ([`crate::limiter`]).

use crate::auth::Caller;
use crate::error::{AppError, AppJson, AppResult};
use crate::limiter::refusal;
use crate::serialize::user_json;
use crate::state::AppState;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use std::net::SocketAddr;

/// Name of the signed, HttpOnly session cookie.
pub const SESSION_COOKIE: &str = "cairn_session";
/// Name of the readable cookie that hands the CSRF token to page script.
pub const CSRF_COOKIE: &str = "cairn_csrf";
/// Header that must echo the CSRF token on state-changing requests authenticated by cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session stays valid after login, in seconds (14 days).
pub const SESSION_MAX_AGE_SECS: i64 = 14 * 24 * 3600;

type HmacSha256 = Hmac<Sha256>;

/// Why a session cookie was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The value does not have the four dot-separated fields.
    #[error("malformed session cookie")]
    Malformed,
    /// The MAC does not match: forged or signed with another secret.
    #[error("session cookie signature does not match")]
    BadSignature,
    /// Issued longer ago than [`SESSION_MAX_AGE_SECS`] (or in the future).
    #[error("session expired")]
    Expired,
}

/// The contents of a valid session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The logged-in user.
    pub user_id: i64,
    /// Unix time of the login.
    pub issued_at: i64,
    /// The CSRF token bound to this session (32 hex digits).
    pub csrf: String,
}

/// Signs and verifies session cookies with one secret.
#[derive(Clone)]
pub struct SessionKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    /// A key over `secret` (any length; HMAC hashes long keys).
    pub fn new(secret: &[u8]) -> SessionKey {
        SessionKey {
            secret: secret.to_vec(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        <HmacSha256 as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"))
    }

    /// The cookie value for `session`.
    pub fn sign(&self, session: &Session) -> String {
        let payload = format!("{}.{}.{}", session.user_id, session.issued_at, session.csrf);
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        format!("{payload}.{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// The session in cookie value `value`, if its MAC matches and it is not older than
    /// [`SESSION_MAX_AGE_SECS`] at unix time `now`.
    ///
    /// # Errors
    /// [`SessionError`] saying why the value is refused.
    pub fn verify(&self, value: &str, now: i64) -> Result<Session, SessionError> {
        let (payload, sig) = value.rsplit_once('.').ok_or(SessionError::Malformed)?;
        let sig = hex::decode(sig).map_err(|_| SessionError::Malformed)?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| SessionError::BadSignature)?;
        let mut fields = payload.split('.');
        let (Some(uid), Some(issued), Some(csrf), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(SessionError::Malformed);
        };
        let user_id = uid.parse().map_err(|_| SessionError::Malformed)?;
        let issued_at: i64 = issued.parse().map_err(|_| SessionError::Malformed)?;
        if issued_at > now + 60 || now - issued_at > SESSION_MAX_AGE_SECS {
            return Err(SessionError::Expired);
        }
        Ok(Session {
            user_id,
            issued_at,
            csrf: csrf.to_string(),
        })
    }
}

/// Derives a 32-byte cookie secret from other secret material (the store's secret key), so the
/// cookie MAC key differs from the encryption key even when both come from one setting.
pub fn derive_cookie_secret(material: &[u8]) -> Vec<u8> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(material)
        .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    mac.update(b"cairn session cookie secret v1");
    mac.finalize().into_bytes().to_vec()
}

/// A fresh random CSRF token (128 bits, hex).
pub fn new_csrf_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Whether `header` echoes the session's CSRF token (compared in constant time).
pub fn csrf_matches(session: &Session, header: Option<&str>) -> bool {
    let Some(given) = header else { return false };
    let (a, b) = (given.as_bytes(), session.csrf.as_bytes());
    a.len() == b.len()
        && !b.is_empty()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `method` changes state and so needs the CSRF header.
pub fn needs_csrf(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The [`Caller`] a session cookie authenticates, for requests without an API key.
///
/// # Errors
/// 401 without a valid session (or for a disabled user); 403 when a state-changing request
/// lacks the session's CSRF token.
pub async fn caller_from_cookie(parts: &Parts, state: &AppState) -> AppResult<Caller> {
    let value = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(AppError::unauthorized)?;
    let session = state
        .session_key()
        .verify(value, now_unix())
        .map_err(|_| AppError::unauthorized())?;
    if needs_csrf(&parts.method) {
        let header = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !csrf_matches(&session, header) {
            return Err(AppError::forbidden(
                "Missing or wrong CSRF token (X-CSRF-Token header); reload the page.",
            ));
        }
    }
    match state.store.user(session.user_id).await {
        Ok(user) if !user.is_disabled() => Ok(Caller::User(user)),
        Ok(_) | Err(cairn_store::StoreError::NotFound(_)) => Err(AppError::unauthorized()),
        Err(e) => Err(e.into()),
    }
}

/// Body of `POST /api/session/login`.
#[derive(Debug, Deserialize)]
pub struct LoginBody {
    /// The user's email.
    #[serde(default)]
    pub email: String,
    /// The user's password.
    #[serde(default)]
    pub password: String,
}

fn cookie_header(
    state: &AppState,
    name: &str,
    value: &str,
    http_only: bool,
    max_age: i64,
) -> HeaderValue {
    let secure = if state.settings.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let http_only = if http_only { "; HttpOnly" } else { "" };
    let text =
        format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax{http_only}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The client's address for the login limit: the last entry of header `from` when set and
/// present (the one the balancer in front appended: earlier entries are the client's to
/// forge), else the connection's peer.
fn client_ip(headers: &HeaderMap, extensions: &Extensions, from: Option<&str>) -> String {
    let forwarded = from
        .and_then(|name| headers.get_all(name).iter().next_back())
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match forwarded {
        Some(ip) => ip.chars().take(64).collect(),
        None => extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string()),
    }
}

/// The longest email counted as itself by the login limit; longer ones (no real address is)
/// are cut, so a client cannot make the limiter store huge keys.
const MAX_EMAIL_KEY: usize = 320;

/// `POST /api/session/login` `{email, password}`: sets the session and CSRF cookies and answers
/// `{"user", "csrf_token"}`. 401 for a wrong email or password, 429 past the rate limit.
pub async fn login(
    State(app): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    AppJson(body): AppJson<LoginBody>,
) -> AppResult<Response> {
    let ip = client_ip(
        &headers,
        &extensions,
        app.settings.client_ip_header.as_deref(),
    );
    let email = body.email.trim().to_lowercase();
    let limited: String = email.chars().take(MAX_EMAIL_KEY).collect();
    let keys = [format!("ip:{ip}"), format!("email:{limited}")];
    let message = "Too many login attempts; try again later.";
    if let Some(refused) = refusal(app.login_limiter.as_ref(), &keys, "login", message).await {
        tracing::warn!(%ip, "login refused by the rate limit");
        return Ok(refused);
    }
    let wrong = || AppError::new(StatusCode::UNAUTHORIZED, "Wrong email or password.");
    let user = match app.store.user_by_email(&email).await {
        Ok(u) => u,
        Err(cairn_store::StoreError::NotFound(_)) => return Err(wrong()),
        Err(e) => return Err(e.into()),
    };
    let Some(hash) = user.password_hash.clone() else {
        return Err(wrong());
    };
    let password = body.password;
    let ok = tokio::task::spawn_blocking(move || crate::password::verify(&password, &hash))
        .await
        .map_err(AppError::internal)?;
    if !ok || user.is_disabled() {
        return Err(wrong());
    }
    let session = Session {
        user_id: user.id,
        issued_at: now_unix(),
        csrf: new_csrf_token(),
    };
    let signed = app.session_key().sign(&session);
    let mut resp =
        Json(json!({"user": user_json(&user), "csrf_token": session.csrf})).into_response();
    let headers = resp.headers_mut();
    headers.append(
        SET_COOKIE,
        cookie_header(&app, SESSION_COOKIE, &signed, true, SESSION_MAX_AGE_SECS),
    );
    headers.append(
        SET_COOKIE,
        cookie_header(
            &app,
            CSRF_COOKIE,
            &session.csrf,
            false,
            SESSION_MAX_AGE_SECS,
        ),
    );
    tracing::info!(user_id = user.id, "logged in");
    Ok(resp)
}

/// `POST /api/session/logout`: clears both cookies. Needs no valid session, so a stale page can
/// always log out.
pub async fn logout(State(app): State<AppState>) -> Response {
    let mut resp = Json(json!({"ok": true})).into_response();
    let headers = resp.headers_mut();
    headers.append(SET_COOKIE, cookie_header(&app, SESSION_COOKIE, "", true, 0));
    headers.append(SET_COOKIE, cookie_header(&app, CSRF_COOKIE, "", false, 0));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            user_id: 7,
            issued_at: 1_000_000,
            csrf: "00112233445566778899aabbccddeeff".into(),
        }
    }

    #[test]
    fn signed_cookie_round_trips() {
        let key = SessionKey::new(b"secret");
        let value = key.sign(&session());
        assert_eq!(key.verify(&value, 1_000_100), Ok(session()));
    }

    #[test]
    fn tampered_or_foreign_cookies_are_refused() {
        let key = SessionKey::new(b"secret");
        let value = key.sign(&session());
        let forged = value.replacen("7.", "1.", 1);
        assert_eq!(
            key.verify(&forged, 1_000_100),
            Err(SessionError::BadSignature)
        );
        assert_eq!(
            SessionKey::new(b"other").verify(&value, 1_000_100),
            Err(SessionError::BadSignature)
        );
        assert_eq!(
            key.verify("garbage", 1_000_100),
            Err(SessionError::Malformed)
        );
        assert_eq!(
            key.verify("a.b.zz", 1_000_100),
            Err(SessionError::Malformed)
        );
        let mut flipped = value.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        assert_eq!(
            key.verify(&flipped, 1_000_100),
            Err(SessionError::BadSignature)
        );
    }

    #[test]
    fn old_sessions_expire() {
        let key = SessionKey::new(b"secret");
        let value = key.sign(&session());
        assert!(key.verify(&value, 1_000_000 + SESSION_MAX_AGE_SECS).is_ok());
        assert_eq!(
            key.verify(&value, 1_000_001 + SESSION_MAX_AGE_SECS),
            Err(SessionError::Expired)
        );
        assert_eq!(
            key.verify(&value, 1_000_000 - 3600),
            Err(SessionError::Expired)
        );
    }

    #[test]
    fn csrf_header_must_match_the_session_token() {
        let s = session();
        assert!(csrf_matches(&s, Some("00112233445566778899aabbccddeeff")));
        assert!(!csrf_matches(&s, Some("00112233445566778899aabbccddeefe")));
        assert!(!csrf_matches(&s, Some("")));
        assert!(!csrf_matches(&s, None));
        assert!(
            needs_csrf(&Method::POST) && needs_csrf(&Method::DELETE) && needs_csrf(&Method::PUT)
        );
        assert!(!needs_csrf(&Method::GET) && !needs_csrf(&Method::HEAD));
        assert_eq!(new_csrf_token().len(), 32);
        assert_ne!(new_csrf_token(), new_csrf_token());
    }

    #[test]
    fn cookies_are_read_from_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; cairn_session=x.y"));
        h.append(COOKIE, HeaderValue::from_static("cairn_csrf=t"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("x.y"));
        assert_eq!(cookie(&h, CSRF_COOKIE), Some("t"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn the_client_ip_is_the_balancers_last_entry_when_configured() {
        let mut ext = Extensions::new();
        ext.insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 9], 4000))));
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.7"),
        );
        let header = Some("X-Forwarded-For");
        assert_eq!(client_ip(&h, &ext, header), "203.0.113.7");
        assert_eq!(client_ip(&h, &ext, None), "10.0.0.9", "header not trusted");
        assert_eq!(client_ip(&HeaderMap::new(), &ext, header), "10.0.0.9");
        assert_eq!(client_ip(&h, &Extensions::new(), None), "unknown");
    }

    #[test]
    fn derived_secrets_differ_from_their_material() {
        let s = derive_cookie_secret(b"material");
        assert_eq!(s.len(), 32);
        assert_ne!(s, b"material".to_vec());
        assert_eq!(s, derive_cookie_secret(b"material"));
    }
}
