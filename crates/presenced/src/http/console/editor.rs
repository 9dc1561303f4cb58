//! The configuration page: the file as it is on disk, editable; "Check"
//! validates the edited text exactly as a reload would (errors with
//! file, line, column and field), "Save and reload" writes it in place
//! and reloads it (`Reloader::replace`): an invalid text is refused and
//! the file and the running configuration stay as they were. Both are
//! POSTs carrying the session's CSRF token.

use std::fmt::Write as _;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::pages::{escape, layout};
use super::session::Session;
use super::AppState;
use crate::config::Config;

/// Most bytes an edited file may have.
const MAX_TEXT: usize = 1 << 20;

/// What a check or a save said.
enum Outcome {
    Valid,
    Invalid(String),
    Reloaded(Vec<String>),
}

fn render(session: &Session, path: Option<&str>, text: &str, outcome: Option<Outcome>) -> String {
    let Some(path) = path else {
        let main = "<p>The server runs on its built-in defaults: start it with \
                    <code>--config FILE</code> to edit its configuration here.</p>";
        return layout("Configuration", "Configuration", Some(session), main);
    };
    let mut main = String::new();
    match outcome {
        None => {}
        Some(Outcome::Valid) => main.push_str(
            "<p id=\"config-result\" role=\"status\" class=\"ok\">Valid: a reload would take it.</p>",
        ),
        Some(Outcome::Invalid(error)) => {
            let _ = write!(
                main,
                "<p id=\"config-result\" role=\"alert\" class=\"error\">Refused: {}</p>",
                escape(&error)
            );
        }
        Some(Outcome::Reloaded(changes)) => {
            let _ = write!(
                main,
                "<div id=\"config-result\" role=\"status\" class=\"ok\"><p>Saved and reloaded: {}.</p><ul>",
                match changes.len() {
                    0 => "nothing that applies live changed".to_owned(),
                    1 => "1 change".to_owned(),
                    n => format!("{n} changes"),
                }
            );
            for change in changes {
                let _ = write!(main, "<li>{}</li>", escape(&change));
            }
            main.push_str("</ul></div>");
        }
    }
    let _ = write!(
        main,
        "<form method=\"post\" action=\"/console/config\" class=\"editor\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"config-text\">{}</label>\
         <textarea id=\"config-text\" name=\"text\" rows=\"28\" spellcheck=\"false\">{}</textarea>\
         <p class=\"muted\">A reload applies <code>[service]</code>; other sections take effect \
         at the next start.</p>\
         <div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"check\" id=\"check\">Check</button> \
         <button type=\"submit\" name=\"action\" value=\"save\" id=\"save\">Save and reload</button></div></form>",
        escape(&session.csrf),
        escape(path),
        escape(text),
    );
    layout("Configuration", "Configuration", Some(session), &main)
}

/// The page with the file as it is now.
pub(super) async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Response {
    let Some(reloader) = state.console.as_ref().and_then(|c| c.reloader.clone()) else {
        return Html(render(&session, None, "", None)).into_response();
    };
    let path = reloader.path().display().to_string();
    match std::fs::read_to_string(reloader.path()) {
        Ok(text) => Html(render(&session, Some(&path), &text, None)).into_response(),
        Err(e) => {
            let outcome = Outcome::Invalid(format!("{path}: cannot read: {e}"));
            Html(render(&session, Some(&path), "", Some(outcome))).into_response()
        }
    }
}

/// The editor's form.
#[derive(Debug, Deserialize)]
pub(super) struct EditForm {
    csrf: String,
    text: String,
    action: String,
}

/// Checks, or saves and reloads, the edited text.
pub(super) async fn submit(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<EditForm>,
) -> Response {
    if !bool::from(session.csrf.as_bytes().ct_eq(form.csrf.as_bytes())) {
        return (StatusCode::FORBIDDEN, "the form's token does not match\n").into_response();
    }
    let Some(reloader) = state.console.as_ref().and_then(|c| c.reloader.clone()) else {
        return Html(render(&session, None, "", None)).into_response();
    };
    let path = reloader.path().display().to_string();
    // Browsers send a textarea's line ends as CRLF.
    let text = form.text.replace("\r\n", "\n");
    let outcome = if text.len() > MAX_TEXT {
        Outcome::Invalid(format!("the text is over {MAX_TEXT} bytes"))
    } else if form.action == "save" {
        match reloader.replace(&text).await {
            Ok(changes) => {
                tracing::info!(user = %session.user, file = %path, "config saved from the console");
                Outcome::Reloaded(changes)
            }
            Err(e) => Outcome::Invalid(e.to_string()),
        }
    } else {
        match Config::parse(reloader.path(), &text) {
            Ok(_) => Outcome::Valid,
            Err(e) => Outcome::Invalid(e.to_string()),
        }
    };
    Html(render(&session, Some(&path), &text, Some(outcome))).into_response()
}
