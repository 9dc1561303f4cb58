//! The web console, with the real binary: nothing behind the login is
//! reachable without a session; the login takes the configured argon2
//! hash (made by `presenced hash-password`), refuses a wrong password and
//! a forged form, and locks a name out after repeated failures; and in a
//! real headless Chromium (driven over WebDriver by chromedriver) a user
//! logs in, a wrong password is refused, the status page shows the
//! server, and a directory search shows a room whose presence change
//! (the occupancy feed) arrives without reloading; the keyboard alone
//! (Tab, Enter) reaches the skip link, the search box and the results
//! with a visible focus; the agents page shows an agent the sync API
//! binds, and its next state, in place; and no page logs an error in the
//! browser's console.
//!
//! Commands: `echo hunter2 | presenced hash-password`; presenced with the
//! `[console]` and `[service]` sections below; `chromedriver --port=P`,
//! whose session starts `chromium --headless --no-sandbox --disable-gpu
//! --disable-background-networking --no-first-run --user-data-dir=DIR`.
//! The browser test needs `chromium chromium-driver`
//! (`scripts/install-test-peers`); `PRESENCED_SKIP_PEERS=1` skips it.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::console::{cookie, exchange, form_token, hash, header, login};
use common::Presenced;
use serde_json::{json, Value};

const ROOM: &str = "sip:meet.alice@vc.example.com";
const TOKEN: &str = "feed-secret";

fn start() -> Presenced {
    let token_hash: String = {
        use sha2::{Digest, Sha256};
        Sha256::digest(TOKEN.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let config = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n\
         [console]\nmax_failures = 3\nlockout_secs = 60\n\
         [[console.users]]\nname = \"admin\"\npassword_argon2 = \"{}\"\n\
         [service]\noccupancy_token_sha256 = \"{token_hash}\"\n\
         [[service.rooms]]\naliases = [\"meet.alice@vc.example.com\"]\nname = \"Alice's meeting room\"\n\
         [sync]\ntokens = {{ crm = \"{token_hash}\" }}\nglobal = {{ EnterpriseVoice = \"voice\" }}\n\
         [[sync.profiles]]\nname = \"voice\"\n\
         aggregated_states = \"1=OUT, 2=READY, 3=OUT, 4=OUT, 5=OUT, 6=OUT, 7=OUT, 8=OUT, 9=OUT, 10=OUT, 11=OUT, 12=OUT, 13=OUT, 14=OUT, 15=OUT\"\n\
         agent_states = [\n\
           {{ id = \"OUT\", availability = 18000, activity = {{ 1033 = \"Logged out\" }} }},\n\
           {{ id = \"READY\", availability = 3501, activity = {{ 1033 = \"Available for customers\" }} }},\n\
         ]\n",
        hash("hunter2")
    );
    Presenced::with_config(&config, 1)
}

#[test]
fn nothing_behind_the_login_without_a_session() {
    let server = start();
    let addr = server.http_addr();
    for page in [
        "/console/",
        "/console/directory",
        "/console/config",
        "/console/services",
        "/console/upstream",
        "/console/agents",
        "/console/presentity?uri=sip:meet.alice@vc.example.com",
    ] {
        let (status, headers, _) = exchange(addr, "GET", page, &[], b"", common::WAIT);
        assert_eq!(status, 303, "{page}");
        assert_eq!(header(&headers, "location"), ["/console/login"], "{page}");
    }
    for (method, api) in [
        ("GET", "/console/api/status"),
        ("GET", "/console/api/directory?q=meet"),
        ("GET", &format!("/console/events?uri={ROOM}")),
        ("GET", "/console/agents/events"),
        ("POST", "/console/logout"),
    ] {
        let (status, _, body) = exchange(addr, method, api, &[], b"", common::WAIT);
        assert_eq!(status, 401, "{api}: {body}");
        assert!(body.contains("\"field\":\"session\""), "{body}");
    }
    // A made-up session is no session.
    let forged = ["Cookie: presenced_session=00112233".to_owned()];
    let (status, _, _) = exchange(
        addr,
        "GET",
        "/console/api/status",
        &forged,
        b"",
        common::WAIT,
    );
    assert_eq!(status, 401);
    // The login page itself is open, and hardened.
    let (status, headers, page) = exchange(addr, "GET", "/console/login", &[], b"", common::WAIT);
    assert_eq!(status, 200);
    assert!(page.contains("<form method=\"post\" action=\"/console/login\""));
    let csp = header(&headers, "content-security-policy").join("");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let set = header(&headers, "set-cookie").join("");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
}

#[test]
fn logins_are_checked_forged_forms_refused_and_failures_lock_out() {
    let server = start();
    let addr = server.http_addr();
    // A form whose token does not match its cookie.
    let (status, _, page) = exchange(
        addr,
        "POST",
        "/console/login",
        &[
            "Content-Type: application/x-www-form-urlencoded".to_owned(),
            "Cookie: presenced_login=aaaa".to_owned(),
        ],
        b"user=admin&password=hunter2&csrf=bbbb",
        common::WAIT,
    );
    assert_eq!(status, 403, "{page}");

    let (status, headers, _) = login(&server, "admin", "hunter2");
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), ["/console/"]);
    let session = cookie(&headers, "presenced_session").expect("a session cookie");
    let with = [format!("Cookie: {session}")];
    let (status, _, body) = exchange(addr, "GET", "/console/api/status", &with, b"", common::WAIT);
    assert_eq!(status, 200, "{body}");
    let data: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(data["version"], env!("CARGO_PKG_VERSION"));
    let (status, _, body) = exchange(
        addr,
        "GET",
        "/console/api/directory?q=meet",
        &with,
        b"",
        common::WAIT,
    );
    assert_eq!(status, 200);
    let found: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(found["entries"][0]["uri"], ROOM);
    assert_eq!(found["entries"][0]["presence"]["class"], "Online");
    server.wait_for_log(&["console login", "user=admin"]);
    let (status, _, page) = exchange(addr, "GET", "/console/upstream", &with, b"", common::WAIT);
    assert_eq!(status, 200);
    assert!(
        page.contains("id=\"upstream-off\""),
        "no [provider]: {page}"
    );

    // Wrong passwords: refused, then the name is locked, even for the
    // right password.
    // (A refused login shows the form again with the reason: 200, and
    // X-Login-Refused for scripts; no session cookie.)
    let refusal = |user: &str, password: &str| {
        let (status, headers, page) = login(&server, user, password);
        assert_eq!(status, 200);
        assert_eq!(cookie(&headers, "presenced_session"), None);
        (header(&headers, "x-login-refused").join(""), page)
    };
    for _ in 0..2 {
        let (why, page) = refusal("admin", "hunter3");
        assert_eq!(why, "wrong");
        assert!(page.contains("Wrong user name or password."), "{page}");
    }
    assert_eq!(refusal("admin", "hunter3").0, "locked");
    let (why, page) = refusal("admin", "hunter2");
    assert_eq!(why, "locked", "locked even with the right password");
    assert!(page.contains("locked for"), "{page}");
    // An unknown name is refused like a wrong password.
    assert_eq!(refusal("mallory", "hunter2").0, "wrong");
    assert!(
        !server.log_text().contains("hunter"),
        "passwords are never logged"
    );

    // Logging out needs the session's token, then ends the session.
    let (status, _, page) = exchange(addr, "GET", "/console/", &with, b"", common::WAIT);
    assert_eq!(status, 200);
    let csrf = form_token(&page).to_owned();
    let form = [
        format!("Cookie: {session}"),
        "Content-Type: application/x-www-form-urlencoded".to_owned(),
    ];
    let (status, _, _) = exchange(
        addr,
        "POST",
        "/console/logout",
        &form,
        b"csrf=nope",
        common::WAIT,
    );
    assert_eq!(status, 403);
    let body = format!("csrf={csrf}");
    let (status, _, _) = exchange(
        addr,
        "POST",
        "/console/logout",
        &form,
        body.as_bytes(),
        common::WAIT,
    );
    assert_eq!(status, 303);
    let (status, _, _) = exchange(addr, "GET", "/console/api/status", &with, b"", common::WAIT);
    assert_eq!(status, 401, "the session ended");
}

/// A chromedriver and one headless Chromium session, stopped by PID.
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's key codes.
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

impl Browser {
    fn start() -> Browser {
        let port = common::peers::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--no-first-run",
                         format!("--user-data-dir={}", browser._profile.path().display())],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let created = browser.call("POST", "/session", Some(caps));
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        // A laptop's screen.
        browser.session_call(
            "POST",
            "/window/rect",
            Some(json!({"width": 1280, "height": 800})),
        );
        browser
    }

    /// Saves a PNG of the page.
    fn screenshot(&self, path: &str) {
        use base64_png::decode;
        let png = self.session_call("GET", "/screenshot", None);
        let bytes = decode(png.as_str().unwrap_or_default());
        std::fs::write(path, bytes).expect("write the screenshot");
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, _, text) = exchange(
            self.addr,
            method,
            path,
            &["Content-Type: application/json".to_owned()],
            body.as_bytes(),
            Duration::from_secs(60),
        );
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(status == 200, "{method} {path}: {status} {text}");
        value["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn go(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({"url": url})));
    }

    fn url(&self) -> String {
        self.session_call("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn script(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// The text of the first element matching `css`, or `None`.
    fn text(&self, css: &str) -> Option<String> {
        let found = self.script(&format!(
            "const e = document.querySelector({}); return e ? e.textContent : null;",
            json!(css)
        ));
        found.as_str().map(str::to_owned)
    }

    fn element(&self, css: &str) -> String {
        let found = self.session_call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no {css}"))
            .to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.session_call("POST", &format!("/element/{id}/clear"), Some(json!({})));
        self.session_call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        );
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.session_call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Waits (10 s at most) until the element's text satisfies `ok`.
    fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(text) = self.text(css).filter(|t| ok(t)) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {css} shows {:?} at {}",
                self.text(css),
                self.url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Presses a key (a WebDriver key code, e.g. [`TAB`]) in the page.
    fn press(&self, key: &str) {
        let down_up = json!([{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]);
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": down_up}]});
        self.session_call("POST", "/actions", Some(actions));
    }

    /// What has the keyboard focus: tag, id, text, whether it is in
    /// `#results`, and its outline as drawn.
    fn focused(&self) -> Value {
        self.script(
            "const e = document.activeElement; const s = getComputedStyle(e); \
             return {tag: e.tagName, id: e.id, text: e.textContent.trim().slice(0, 40), \
             results: !!e.closest('#results'), outline: s.outlineStyle, \
             width: parseFloat(s.outlineWidth) || 0};",
        )
    }

    /// Presses Tab (at most 40 times) until `wanted` has the focus; every
    /// element passed on the way must show a visible focus outline.
    fn tab_to(&self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let mut passed = Vec::new();
        for _ in 0..40 {
            self.press(TAB);
            let now = self.focused();
            assert!(
                now["outline"] != "none" && now["width"].as_f64().unwrap_or(0.0) >= 2.0,
                "no visible focus on {now} (after {passed:?})"
            );
            if wanted(&now) {
                return now;
            }
            passed.push(now["text"].to_string());
        }
        panic!("Tab never reached {what}: {passed:?}");
    }

    /// Asserts that the browser logged no error on `page` so far.
    fn no_errors(&self, page: &str) {
        let errors = self.errors();
        assert!(errors.is_empty(), "console errors on {page}: {errors:?}");
    }

    /// The browser's console messages of level SEVERE.
    fn errors(&self) -> Vec<String> {
        let log = self.session_call("POST", "/se/log", Some(json!({"type": "browser"})));
        log.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = exchange(
                self.addr,
                "DELETE",
                &path,
                &[],
                b"",
                Duration::from_secs(10),
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn skip_without_chromium() -> bool {
    common::peers::skip_without_tools(
        &["chromedriver", "chromium"],
        "the console's browser test",
        "`apt-get install -y --no-install-recommends chromium chromium-driver`",
    )
}

#[test]
fn in_chromium_log_in_search_and_see_presence_change_live() {
    if skip_without_chromium() {
        return;
    }
    let server = start();
    let base = format!("http://{}", server.http_addr());
    let browser = Browser::start();

    // Behind the login: the directory sends the browser to the login.
    browser.go(&format!("{base}/console/directory"));
    assert!(
        browser.url().ends_with("/console/login"),
        "{}",
        browser.url()
    );

    browser.no_errors("the login page");

    // A wrong password is refused.
    browser.type_into("#user", "admin");
    browser.type_into("#password", "not-it");
    browser.click("#login");
    browser.wait_text("#login-error", "the refusal", |t| {
        t.contains("Wrong user name or password")
    });

    // The right one opens the status page.
    browser.type_into("#user", "admin");
    browser.type_into("#password", "hunter2");
    browser.click("#login");
    browser.wait_text("#version", "the status page", |t| {
        t == env!("CARGO_PKG_VERSION")
    });
    assert!(browser.url().ends_with("/console/"), "{}", browser.url());
    let listeners = browser.text("#listeners").unwrap_or_default();
    assert!(listeners.contains("udp:127.0.0.1:"), "{listeners}");
    // The live chart draws once two polls have come back.
    browser.wait_text("#notify-rate-now", "the NOTIFY rate", |t| {
        t.starts_with("now ")
    });
    browser.no_errors("the status page");

    // Search the directory with the keyboard: the room, Online.
    browser.go(&format!("{base}/console/directory"));
    browser.type_into("#q", "meet\n");
    let cell = format!("td[data-uri=\"{ROOM}\"]");
    browser.wait_text(&cell, "the room in the results", |t| t == "Online");
    browser.script("window.presencedMarker = 42; return null;");

    // The room fills up: its presence changes in place.
    let (status, _, body) = exchange(
        server.http_addr(),
        "PUT",
        "/api/v1/rooms/meet.alice@vc.example.com/occupancy",
        &[
            format!("Authorization: Bearer {TOKEN}"),
            "Content-Type: application/json".to_owned(),
        ],
        br#"{"participants": 2}"#,
        common::WAIT,
    );
    assert_eq!(status, 200, "{body}");
    let shown = browser.wait_text(&cell, "the live change", |t| t.starts_with("Busy"));
    assert_eq!(shown, "Busy — In a meeting (2)");
    assert_eq!(
        browser.script("return window.presencedMarker;"),
        json!(42),
        "the page was not reloaded"
    );
    // The README's picture: PRESENCED_CONSOLE_SCREENSHOT=docs/console-directory.png
    if let Ok(path) = std::env::var("PRESENCED_CONSOLE_SCREENSHOT") {
        browser.screenshot(&path);
    }

    browser.no_errors("the directory page");

    // The keyboard alone: from the top of the page, Tab reaches the skip
    // link, the search box and the result's link, each with a visible
    // focus; Enter on the link opens the room's page.
    browser.go(&format!("{base}/console/directory?q=meet"));
    browser.wait_text(&cell, "the results again", |t| t.starts_with("Busy"));
    let skip = browser.tab_to("the skip link", |f| f["text"] == "Skip to content");
    assert_eq!(skip["tag"], "A");
    browser.tab_to("the search box", |f| f["id"] == "q");
    let link = browser.tab_to("a result", |f| f["results"] == true && f["tag"] == "A");
    assert_eq!(link["text"], "Alice's meeting room");
    browser.press(ENTER);
    browser.wait_text("#now td", "the room's page by keyboard", |t| {
        t == "Busy — In a meeting (2)"
    });
    browser.go(&format!("{base}/console/directory?q=meet"));
    browser.wait_text(&cell, "the results again", |t| t.starts_with("Busy"));

    // The room's own page, from its link: what it shows and why.
    browser.click("#results a");
    browser.wait_text("#now td", "the presentity page", |t| {
        t == "Busy — In a meeting (2)"
    });
    let why = browser.text("#explain").unwrap_or_default();
    assert!(why.contains("room"), "{why}");
    let changes = browser.text("#history").unwrap_or_default();
    assert!(changes.contains("In a meeting (2)"), "{changes}");
    browser.no_errors("the presentity page");
    // The service contacts, with the room's avatar loaded.
    browser.go(&format!("{base}/console/services"));
    browser.wait_text("#rooms td.presence", "the rooms", |t| t.starts_with("Busy"));
    let width = browser.script("return document.querySelector('#rooms img').naturalWidth;");
    assert!(
        width.as_u64().unwrap_or(0) > 0,
        "the avatar loaded: {width}"
    );
    browser.no_errors("the service contacts page");
    // The agents page (none bound yet) and the upstream page (no
    // provider here).
    browser.go(&format!("{base}/console/agents"));
    browser.wait_text("#no-agents", "the agents page", |t| {
        t.starts_with("No agent")
    });
    // An agent bound and set Ready through the sync API appears, then
    // changes, in place.
    let sync = |method: &str, path: &str, body: &str| {
        let (status, _, answer) = exchange(
            server.http_addr(),
            method,
            &format!("/api/v1/sync{path}"),
            &[
                format!("Authorization: Bearer {TOKEN}"),
                "Content-Type: application/json".to_owned(),
            ],
            body.as_bytes(),
            common::WAIT,
        );
        assert_eq!(status, 200, "{path}: {answer}");
    };
    sync(
        "PUT",
        "/agents/4711",
        r#"{"presentity": "sip:carol@example.com", "user_type": "EnterpriseVoice", "user_state": "LoggedInToClient"}"#,
    );
    let cc = "tr[data-agent=\"4711\"] td[data-cell=\"cc\"]";
    browser.wait_text(cc, "the bound agent", |t| t == "Logged out");
    sync("POST", "/agents/4711/state", r#"{"state": "Ready"}"#);
    browser.wait_text(cc, "the agent's new state", |t| t == "Ready");
    let published = "tr[data-agent=\"4711\"] td[data-cell=\"published\"]";
    browser.wait_text(published, "what it published", |t| t == "3501");
    let profile = browser.text("tr[data-agent=\"4711\"] td[data-cell=\"profile\"]");
    assert_eq!(profile.as_deref(), Some("voice (global EnterpriseVoice)"));
    browser.go(&format!("{base}/console/upstream"));
    browser.wait_text("h1", "the upstream page", |t| t == "Upstream");
    browser.no_errors("the agents and upstream pages");

    let room_listing = || {
        let path = "/api/v1/directory?q=meet";
        exchange(server.http_addr(), "GET", path, &[], b"", common::WAIT).2
    };

    // The configuration: a broken edit is refused with its line and
    // field, and neither the file nor the running server changes...
    browser.go(&format!("{base}/console/config"));
    browser.wait_text("#config-text", "the file", |t| t.contains("[console]"));
    let edit = |js: &str| {
        browser.script(&format!(
            "const t = document.getElementById('config-text'); t.value = t.value{js}; return null;"
        ));
    };
    edit(".replace('lockout_secs = 60', 'lockout_secs = 0')");
    browser.click("#save");
    let refused = browser.wait_text("#config-result", "the refusal", |t| {
        t.starts_with("Refused")
    });
    assert!(
        refused.contains("presenced.toml:7:16: console.lockout_secs: 0 is out of range"),
        "{refused}"
    );
    let found = room_listing();
    assert!(found.contains("Alice's meeting room"), "{found}");
    // ...and a good one is saved and reloaded.
    edit(".replace('lockout_secs = 0', 'lockout_secs = 60').replace(\"Alice's meeting room\", \"Alice's big room\")");
    browser.click("#check");
    browser.wait_text("#config-result", "the check", |t| t.starts_with("Valid"));
    browser.click("#save");
    let saved = browser.wait_text("#config-result", "the reload", |t| t.starts_with("Saved"));
    assert!(saved.contains("1 change"), "{saved}");
    server.wait_for_log(&["config saved from the console", "user=admin"]);
    let found = room_listing();
    assert!(found.contains("Alice's big room"), "{found}");

    let errors = browser.errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// WebDriver sends screenshots as standard base64.
mod base64_png {
    pub fn decode(text: &str) -> Vec<u8> {
        let value = |c: u8| -> Option<u32> {
            Some(match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            } as u32)
        };
        let digits: Vec<u32> = text.bytes().filter_map(value).collect();
        let mut out = Vec::with_capacity(digits.len() * 3 / 4);
        for chunk in digits.chunks(4) {
            let mut n = 0u32;
            for (i, d) in chunk.iter().enumerate() {
                n |= d << (18 - 6 * i);
            }
            let bytes = n.to_be_bytes();
            out.extend_from_slice(&bytes[1..chunk.len()]);
        }
        out
    }
}

/// The upstream page lists a presentity the upstream refused, with the
/// reason: a fake upstream answers every SUBSCRIBE 403, a watcher
/// subscribes to a presentity of the provider's domain, and after one
/// failure (`max_failed_presence_subscriptions_per_uri = 1`) it is failed.
#[test]
fn the_upstream_page_lists_a_refused_presentity() {
    let upstream = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    upstream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let refuser = std::thread::spawn(move || {
        let mut buf = [0u8; 65535];
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok((n, from)) = upstream.recv_from(&mut buf) else {
                continue;
            };
            let bytes = bytes::Bytes::copy_from_slice(&buf[..n]);
            if let Ok(sip::Message::Request(req)) = sip::parse::parse_datagram(bytes) {
                let resp = sip::Response::to_request(&req, 403, Some("up1"));
                let _ = upstream.send_to(&resp.encode(), from);
            }
        }
    });
    let config = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n\
         [provider]\nupstream = \"udp:{upstream_addr}\"\ndomains = [\"lab.test\"]\n\
         max_failed_presence_subscriptions_per_uri = 1\n\
         [[console.users]]\nname = \"admin\"\npassword_argon2 = \"{}\"\n",
        hash("hunter2")
    );
    let server = Presenced::with_config(&config, 1);
    let watcher = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = watcher.local_addr().unwrap();
    let subscribe = format!(
        "SUBSCRIBE sip:ghost@lab.test SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKw1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:watcher@lab.test>;tag=w1\r\nTo: <sip:ghost@lab.test>\r\n\
         Call-ID: w1@test\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:watcher@{local}>\r\n\
         Event: presence\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
    );
    watcher
        .send_to(subscribe.as_bytes(), server.addr("udp", false))
        .unwrap();
    server.wait_for_log(&["upstream subscription given up", "ghost@lab.test"]);

    let (_, headers, _) = login(&server, "admin", "hunter2");
    let session = cookie(&headers, "presenced_session").expect("logged in");
    let (status, _, page) = exchange(
        server.http_addr(),
        "GET",
        "/console/upstream",
        &[format!("Cookie: {session}")],
        b"",
        common::WAIT,
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    refuser.join().unwrap();
    assert_eq!(status, 200);
    let row = page
        .split("<tr>")
        .find(|r| r.contains("sip:ghost@lab.test"))
        .unwrap_or_else(|| panic!("ghost not listed: {page}"));
    assert!(
        row.contains("<td>failed</td>") && row.contains("403"),
        "{row}"
    );
}
