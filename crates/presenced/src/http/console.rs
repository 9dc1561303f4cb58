//! The web console, served by presenced itself on the HTTP listener under
//! `/console/` when `[console]` names a user: server-rendered pages, one
//! small script and one style sheet compiled into the binary (no build
//! step), behind a login.
//!
//! - **Login** (`/console/login`): user names and argon2 password hashes
//!   from `[console]`; a form protected against cross-site posting by a
//!   double-submit token (a cookie and a hidden field that must match);
//!   wrong passwords counted per user name and locked out
//!   ([`session`]), the form shown again with the reason (200, and
//!   `X-Login-Refused: wrong` or `locked` for scripts); the password is checked off the async runtime
//!   (argon2 is slow on purpose), and an unknown name costs the same
//!   check as a known one.
//! - **Sessions**: a random 256-bit token in a cookie that is `HttpOnly`,
//!   `SameSite=Strict`, scoped to `/console` and `Secure` with
//!   `cookie_secure` or when the listener serves HTTPS (`[http]
//!   tls_cert`: the binary sets `cookie_secure` then); every other page,
//!   API and event stream under
//!   `/console/` needs one ([`guard`]): pages redirect to the login,
//!   APIs answer 401. Logging out is a POST carrying the session's CSRF
//!   token.
//! - **Pages**: status (version, host, uptime, listeners, live counts
//!   refreshed every 2 s from `/console/api/status`, NOTIFYs per second
//!   and NOTIFY latency) and the directory
//!   (search with presence; the presence of the entries shown updates in
//!   place from the event stream `/console/events`, which sends a change
//!   within a second of it: [`events`]), and the configuration (the file
//!   as loaded, checked or saved and reloaded with the errors a reload
//!   would give: [`editor`]); one presentity (its directory entry, what
//!   it shows now, its recent changes, the sync agent's and the service
//!   contacts' `explain`) and the rooms and gateway rules with their
//!   avatars, and the presence provider's upstream subscriptions with the
//!   failed ones and why ([`views`]); the sync engine's agents, live
//!   ([`agents`]).
//! - Every response carries a strict Content-Security-Policy (scripts and
//!   styles from the console itself only), `no-store` and `nosniff`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Form, Query, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::config::ConsoleSettings;
use crate::reload::Reloader;

mod agents;
mod editor;
mod events;
mod pages;
pub mod session;
mod views;

use session::{random_hex, Refused, Session, Sessions};

/// The session cookie.
const SESSION_COOKIE: &str = "presenced_session";
/// The login form's double-submit cookie.
const LOGIN_COOKIE: &str = "presenced_login";

/// The console's own state, shared by its handlers.
#[derive(Debug)]
pub struct Console {
    settings: ConsoleSettings,
    sessions: Mutex<Sessions>,
    started: Instant,
    started_at: SystemTime,
    /// The bound SIP and HTTP listeners, for the status page.
    listeners: Vec<String>,
    /// The configuration file's reloader, for the configuration page;
    /// `None` when the server runs without a file.
    reloader: Option<Arc<Reloader>>,
}

impl Console {
    /// The console of `settings`, started now; `listeners` are shown on
    /// the status page; `reloader` edits and reloads the file.
    pub fn new(
        settings: &ConsoleSettings,
        listeners: Vec<String>,
        reloader: Option<Arc<Reloader>>,
    ) -> Arc<Console> {
        Arc::new(Console {
            sessions: Mutex::new(Sessions::new(settings)),
            settings: settings.clone(),
            started: Instant::now(),
            started_at: SystemTime::now(),
            listeners,
            reloader,
        })
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The console's routes, to be merged into the HTTP router.
pub(super) fn routes(state: AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/console/", get(pages::status))
        .route("/console/directory", get(pages::directory))
        .route("/console/config", get(editor::page).post(editor::submit))
        .route("/console/presentity", get(views::presentity))
        .route("/console/services", get(views::services))
        .route("/console/upstream", get(views::upstream))
        .route("/console/agents", get(agents::page))
        .route("/console/agents/events", get(agents::stream))
        .route("/console/logout", post(logout))
        .route("/console/api/status", get(status_json))
        .route("/console/api/directory", get(directory_json))
        .route("/console/events", get(events::stream))
        .route_layer(axum::middleware::from_fn_with_state(state, guard));
    Router::new()
        .route("/console", get(|| async { redirect("/console/") }))
        .route("/console/login", get(login_page).post(login))
        .route("/console/app.js", get(asset_js))
        .route("/console/app.css", get(asset_css))
        .merge(guarded)
}

/// The headers every console response carries.
fn hardened(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn redirect(to: &'static str) -> Response {
    hardened((StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response())
}

/// A cookie's value from the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` for the console: `HttpOnly`, `SameSite=Strict`, path
/// `/console`, `Secure` when configured; `max_age` 0 deletes it.
fn set_cookie(settings: &ConsoleSettings, name: &str, value: &str, max_age: u64) -> String {
    let secure = if settings.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// Lets a request through only with a live session (put in the request's
/// extensions for the handler); pages without one redirect to the login,
/// APIs and the event stream answer 401.
async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(console) = state.console.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let session = cookie(request.headers(), SESSION_COOKIE)
        .and_then(|token| console.sessions().check(token, Instant::now()));
    match session {
        Some(session) => {
            request.extensions_mut().insert(session);
            hardened(next.run(request).await)
        }
        None => {
            let path = request.uri().path();
            if path.starts_with("/console/api/")
                || path == "/console/events"
                || path == "/console/agents/events"
                || path == "/console/logout"
            {
                let body = Json(serde_json::json!({"error": "log in first", "field": "session"}));
                hardened((StatusCode::UNAUTHORIZED, body).into_response())
            } else {
                redirect("/console/login")
            }
        }
    }
}

/// The login form.
async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(console) = state.console.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let live = cookie(&headers, SESSION_COOKIE)
        .and_then(|token| console.sessions().check(token, Instant::now()));
    if live.is_some() {
        return redirect("/console/");
    }
    login_form(&console, StatusCode::OK, None)
}

/// The login page with a fresh double-submit token, and `message` (an
/// error) when there is one. A refused login is answered 200 with the
/// form and the message (a browser logs any 4xx page load as an error in
/// its console) and says why in `X-Login-Refused` (`wrong`, `locked`),
/// for scripts.
fn login_form(console: &Console, status: StatusCode, message: Option<&str>) -> Response {
    let Ok(token) = random_hex(16) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let cookie = set_cookie(&console.settings, LOGIN_COOKIE, &token, 600);
    let page = pages::login(&token, message);
    hardened((status, [(SET_COOKIE, cookie)], Html(page)).into_response())
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    csrf: String,
}

/// Checks a login; see the module documentation.
async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(console) = state.console.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let same = !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(form.csrf.as_bytes()));
    if !same {
        tracing::warn!(user = %form.user, "console login refused: the form's token does not match");
        return login_form(
            &console,
            StatusCode::FORBIDDEN,
            Some("The form expired; please log in again."),
        );
    }
    let user = form.user.trim().to_owned();
    if let Err(Refused::Locked(left)) = console.sessions().may_try(&user, Instant::now()) {
        return locked(&console, &user, left);
    }
    let hash = console
        .settings
        .users
        .iter()
        .find(|u| u.name == user)
        .map(|u| u.password_argon2.clone());
    let known = hash.is_some();
    // An unknown name is checked against a configured hash anyway, so
    // the answer takes as long as for a known one.
    let hash = hash
        .or_else(|| {
            console
                .settings
                .users
                .first()
                .map(|u| u.password_argon2.clone())
        })
        .unwrap_or_default();
    let password = form.password;
    let right = tokio::task::spawn_blocking(move || verify(&hash, &password))
        .await
        .unwrap_or(false)
        && known;
    let now = Instant::now();
    if !right {
        let outcome = console.sessions().failed(&user, now);
        tracing::warn!(%user, "console login refused: wrong user name or password");
        return match outcome {
            Refused::Locked(left) => locked(&console, &user, left),
            Refused::Wrong => refused(
                login_form(
                    &console,
                    StatusCode::OK,
                    Some("Wrong user name or password."),
                ),
                "wrong",
            ),
        };
    }
    let (Ok(token), Ok(csrf)) = (random_hex(32), random_hex(16)) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    console.sessions().open(&user, &token, &csrf, now);
    tracing::info!(%user, "console login");
    let max_age = console.settings.session_max.as_secs();
    let mut response = redirect("/console/");
    let headers = response.headers_mut();
    for value in [
        set_cookie(&console.settings, SESSION_COOKIE, &token, max_age),
        set_cookie(&console.settings, LOGIN_COOKIE, "", 0),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(SET_COOKIE, value);
        }
    }
    response
}

fn locked(console: &Console, user: &str, left: Duration) -> Response {
    tracing::warn!(%user, seconds = left.as_secs(), "console login refused: locked");
    let message = format!(
        "Too many failed attempts: this user name is locked for {} more seconds.",
        left.as_secs().max(1)
    );
    refused(
        login_form(console, StatusCode::OK, Some(&message)),
        "locked",
    )
}

fn refused(mut response: Response, why: &'static str) -> Response {
    response
        .headers_mut()
        .insert("x-login-refused", HeaderValue::from_static(why));
    response
}

/// Whether `password` matches the argon2 PHC string `hash`.
fn verify(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// An argon2id PHC string of `password` with a random salt, for
/// `[console]` (`presenced hash-password`).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// The logout form's field.
#[derive(Debug, Deserialize)]
struct LogoutForm {
    csrf: String,
}

/// Ends the session; needs its CSRF token.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Extension(session): axum::Extension<Session>,
    Form(form): Form<LogoutForm>,
) -> Response {
    let Some(console) = state.console.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !bool::from(session.csrf.as_bytes().ct_eq(form.csrf.as_bytes())) {
        return (StatusCode::FORBIDDEN, "the form's token does not match\n").into_response();
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        console.sessions().close(token);
    }
    tracing::info!(user = %session.user, "console logout");
    let mut response = redirect("/console/login");
    if let Ok(value) = HeaderValue::from_str(&set_cookie(&console.settings, SESSION_COOKIE, "", 0))
    {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

/// What the status page shows, as JSON.
async fn status_json(State(state): State<AppState>) -> Response {
    let Some(console) = state.console.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    Json(pages::status_data(&state, &console)).into_response()
}

/// `/api/v1/directory` for the console's script, behind the login.
async fn directory_json(
    State(state): State<AppState>,
    query: Query<HashMap<String, String>>,
) -> Response {
    super::directory::search(State(state), query)
        .await
        .into_response()
}

async fn asset_js() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        include_str!("console/app.js"),
    )
        .into_response()
}

async fn asset_css() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        include_str!("console/app.css"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_cookies_are_strict() {
        let hash = hash_password("hunter2").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify(&hash, "hunter2"));
        assert!(!verify(&hash, "hunter3"));
        assert!(!verify("not a hash", "hunter2"));
        assert_ne!(hash, hash_password("hunter2").unwrap(), "salted");

        let mut settings = crate::config::Config::default().console;
        let plain = set_cookie(&settings, SESSION_COOKIE, "abc", 60);
        assert_eq!(
            plain,
            "presenced_session=abc; Path=/console; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        settings.cookie_secure = true;
        assert!(set_cookie(&settings, SESSION_COOKIE, "abc", 60).ends_with("; Secure"));

        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; presenced_session=tok; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), None);
    }
}
