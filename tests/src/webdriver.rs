//! The few WebDriver commands the page test needs, spoken over plain HTTP/1.1 to
//! `chromedriver` (Debian's `chromium-driver`), with headless Chromium as root-safe flags.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// Chromium flags for headless runs on these machines (root, no GPU, closed network).
pub const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-unsafe-webgpu",
    "--window-size=1280,1600",
];

/// The browser a test wants: a desktop window with SwiftShader's WebGPU ([`Browser::start`]),
/// or something else.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Pass `--enable-unsafe-webgpu`: without it, headless Chromium on a machine without a GPU
    /// offers no WebGPU adapter.
    pub webgpu: bool,
    /// Emulate a phone of this many CSS pixels (width, height): a touch screen, a mobile
    /// viewport and a device pixel ratio of 2. `None`: a 1280x1600 desktop window.
    pub phone: Option<(u32, u32)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            webgpu: true,
            phone: None,
        }
    }
}

/// Why a WebDriver command failed.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

type Result<T> = std::result::Result<T, Error>;

fn err(e: impl std::fmt::Display) -> Error {
    Error(e.to_string())
}

/// A chromedriver process and one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Browser {
    /// Starts `chromedriver` (from `CHROMEDRIVER`, else `/usr/bin/chromedriver`) and a headless
    /// Chromium session (`CHROMIUM`, else `/usr/bin/chromium`) with [`CHROMIUM_ARGS`].
    pub fn start() -> Result<Browser> {
        Browser::start_with(Options::default())
    }

    /// [`Browser::start`] with other [`Options`].
    pub fn start_with(options: Options) -> Result<Browser> {
        let driver_path =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chrome = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(err)?;
            l.local_addr().map_err(err)?.port()
        };
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                Error(format!(
                    "cannot start {driver_path}: {e}. Install Debian's chromium and \
                     chromium-driver (cargo xtask test does)"
                ))
            })?;
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
        };
        let started = Instant::now();
        loop {
            if browser.call("GET", "/status", None).is_ok() {
                break;
            }
            if started.elapsed() > Duration::from_secs(20) {
                return Err(Error(format!(
                    "{driver_path} did not answer on port {port}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let args: Vec<&str> = CHROMIUM_ARGS
            .iter()
            .copied()
            .filter(|a| options.webgpu || *a != "--enable-unsafe-webgpu")
            .filter(|a| options.phone.is_none() || !a.starts_with("--window-size"))
            .collect();
        let mut chrome_options = json!({"binary": chrome, "args": args});
        if let Some((width, height)) = options.phone {
            chrome_options["mobileEmulation"] = json!({"deviceMetrics": {
                "width": width, "height": height, "pixelRatio": 2.0, "touch": true, "mobile": true,
            }});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": chrome_options,
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let v = browser.call("POST", "/session", Some(caps))?;
        browser.session = v["sessionId"]
            .as_str()
            .ok_or_else(|| Error(format!("no session id in {v}")))?
            .to_string();
        browser.call(
            "POST",
            &format!("/session/{}/timeouts", browser.session),
            Some(json!({"script": 900_000, "pageLoad": 120_000})),
        )?;
        Ok(browser)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        if std::env::var_os("CIMLE_WEBDRIVER_TRACE").is_some() {
            eprintln!("webdriver: {method} {path}");
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(err)?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .map_err(err)?;
        // chromedriver says `Connection: close` but keeps the socket open: read by length.
        let mut reader = std::io::BufReader::new(s);
        let mut head = String::new();
        let mut length = None;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut reader, &mut line).map_err(err)? == 0 {
                break;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse::<usize>().ok();
            }
            chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
            head.push_str(&line);
        }
        let body = match length {
            Some(n) => {
                let mut buf = vec![0; n];
                reader.read_exact(&mut buf).map_err(err)?;
                String::from_utf8_lossy(&buf).into_owned()
            }
            None => {
                let mut buf = Vec::new();
                reader.read_to_end(&mut buf).map_err(err)?;
                let text = String::from_utf8_lossy(&buf).into_owned();
                if chunked { dechunk(&text) } else { text }
            }
        };
        if head.is_empty() {
            return Err(Error(format!("no HTTP answer to {method} {path}")));
        }
        let v: Value = serde_json::from_str(&body)
            .map_err(|e| Error(format!("{method} {path}: {e}: {body}")))?;
        if let Some(error) = v["value"].get("error") {
            return Err(Error(format!(
                "{method} {path}: {error}: {}",
                v["value"]["message"]
            )));
        }
        Ok(v["value"].clone())
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Opens a URL and waits for the load event.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.session_call("POST", "/url", Some(json!({ "url": url })))
            .map(|_| ())
    }

    /// Runs synchronous JavaScript (`return ...;`) and returns its value.
    pub fn eval(&self, script: &str) -> Result<Value> {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Runs asynchronous JavaScript: the script gets a callback as `arguments[0]`.
    pub fn eval_async(&self, script: &str) -> Result<Value> {
        self.session_call(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Polls `condition` (a JavaScript expression) until it is true or `timeout` passes.
    pub fn wait_for(&self, condition: &str, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            if self.eval(&format!("return !!({condition});"))? == json!(true) {
                return Ok(());
            }
            if started.elapsed() > timeout {
                let status = self
                    .eval("return document.getElementById('status')?.textContent + ' | ' + document.getElementById('notice')?.textContent;")
                    .unwrap_or_default();
                return Err(Error(format!(
                    "timed out after {timeout:?} waiting for `{condition}`; page says: {status}"
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The WebDriver id of the first element matching a CSS selector.
    pub fn find(&self, css: &str) -> Result<String> {
        let v = self.session_call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error(format!("no element id for {css}: {v}")))
    }

    /// Clicks the first element matching a CSS selector.
    pub fn click(&self, css: &str) -> Result<()> {
        let id = self.find(css)?;
        self.session_call("POST", &format!("/element/{id}/click"), Some(json!({})))
            .map(|_| ())
    }

    /// Sends keys to the first element matching a CSS selector, as a keyboard would (WebDriver
    /// focuses it first, and refuses an element that cannot take keyboard focus). Special keys
    /// are WebDriver's code points: [`KEY_ENTER`], [`KEY_SPACE`], [`KEY_ARROW_RIGHT`], ...
    pub fn send_keys(&self, css: &str, text: &str) -> Result<()> {
        let id = self.find(css)?;
        self.session_call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .map(|_| ())
    }

    /// Types a file path into a file input (WebDriver's way to upload).
    pub fn upload(&self, css: &str, path: &std::path::Path) -> Result<()> {
        let id = self.find(css)?;
        // chromedriver wants a canonical path (no `..`).
        let path = path
            .canonicalize()
            .map_err(|e| Error(format!("{}: {e}", path.display())))?;
        self.session_call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({"text": path.to_string_lossy()})),
        )
        .map(|_| ())
    }

    /// A mouse drag through `points` (pixels from the element's centre, as WebDriver counts),
    /// pressing at the first and releasing at the last: a real pointer stroke.
    pub fn drag(&self, css: &str, points: &[(i64, i64)]) -> Result<()> {
        let id = self.find(css)?;
        let origin = json!({"element-6066-11e4-a52e-4f735466cecf": id});
        let mut actions = Vec::new();
        for (i, &(x, y)) in points.iter().enumerate() {
            actions.push(
                json!({"type": "pointerMove", "duration": 20, "origin": origin, "x": x, "y": y}),
            );
            if i == 0 {
                actions.push(json!({"type": "pointerDown", "button": 0}));
            }
        }
        actions.push(json!({"type": "pointerUp", "button": 0}));
        self.session_call(
            "POST",
            "/actions",
            Some(json!({"actions": [{
                "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": actions,
            }]})),
        )?;
        self.session_call("DELETE", "/actions", None).map(|_| ())
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        let v = self.session_call("GET", "/screenshot", None)?;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(err)
    }

    /// Browser console messages since the last call.
    pub fn console(&self) -> Result<Vec<String>> {
        let v = self.session_call("POST", "/se/log", Some(json!({"type": "browser"})))?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| format!("{} {}", e["level"], e["message"]))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// WebDriver's Enter key.
pub const KEY_ENTER: &str = "\u{E007}";
/// WebDriver's space bar.
pub const KEY_SPACE: &str = "\u{E00D}";
/// WebDriver's left arrow key.
pub const KEY_ARROW_LEFT: &str = "\u{E012}";
/// WebDriver's right arrow key.
pub const KEY_ARROW_RIGHT: &str = "\u{E014}";

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
