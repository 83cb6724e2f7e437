//! A static file server for the built site: GET and HEAD of files under one folder, the right
//! MIME types (`application/wasm` for `.wasm`, which `WebAssembly.instantiateStreaming` needs),
//! no directory listings, nothing outside the folder. It logs every request so a test can check
//! that the page asked for nothing unexpected.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

/// The MIME type of a file name.
pub fn mime_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A running server; it stops when the process ends.
pub struct Server {
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    /// Every request line seen (`GET /pkg/cimle_web_bg.wasm`).
    pub log: Arc<Mutex<Vec<String>>>,
}

/// Serves `root` on `127.0.0.1:port` (0 = any free port) from a background thread.
pub fn serve(root: &Path, port: u16) -> std::io::Result<Server> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let url = format!("http://{}/", listener.local_addr()?);
    let log = Arc::new(Mutex::new(Vec::new()));
    let (root, log2) = (root.to_path_buf(), log.clone());
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (root, log) = (root.clone(), log2.clone());
            thread::spawn(move || {
                // A client that hangs up mid-request is not our problem.
                let _ = handle(stream, &root, &log);
            });
        }
    });
    Ok(Server { url, log })
}

/// The file a URL path names under `root`, refusing `..` and absolute parts.
pub fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let path = url_path.split(['?', '#']).next().unwrap_or("");
    let mut out = root.to_path_buf();
    for part in Path::new(path.trim_start_matches('/')).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if out.is_dir() {
        out.push("index.html");
    }
    Some(out)
}

fn handle(stream: TcpStream, root: &Path, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        let mut keep_alive = true;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
                break;
            }
            if header.to_ascii_lowercase().starts_with("connection: close") {
                keep_alive = false;
            }
        }
        let mut parts = request.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        if let Ok(mut l) = log.lock() {
            l.push(format!("{method} {target}"));
        }
        let file = resolve(root, target).filter(|p| p.is_file());
        let (status, body, mime) = match (method, &file) {
            ("GET" | "HEAD", Some(path)) => ("200 OK", std::fs::read(path)?, mime_type(path)),
            ("GET" | "HEAD", None) => ("404 Not Found", b"not found\n".to_vec(), "text/plain"),
            _ => ("405 Method Not Allowed", Vec::new(), "text/plain"),
        };
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {}\r\n\
             Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\r\n",
            body.len()
        )?;
        if method != "HEAD" {
            stream.write_all(&body)?;
        }
        stream.flush()?;
        if !keep_alive {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn serves_files_with_mime_types_and_refuses_escapes() {
        let dir = std::env::temp_dir().join(format!("cimle-serve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        std::fs::write(dir.join("index.html"), "<p>hi</p>").unwrap();
        std::fs::write(dir.join("pkg/a.wasm"), [0, 97, 115, 109]).unwrap();
        assert_eq!(resolve(&dir, "/../etc/passwd"), None);
        assert_eq!(resolve(&dir, "/"), Some(dir.join("index.html")));
        let server = serve(&dir, 0).unwrap();
        let addr = server
            .url
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let get = |path: &str| {
            let mut s = TcpStream::connect(addr).unwrap();
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).unwrap();
            String::from_utf8_lossy(&out).into_owned()
        };
        let wasm = get("/pkg/a.wasm");
        assert!(wasm.starts_with("HTTP/1.1 200"), "{wasm}");
        assert!(wasm.contains("Content-Type: application/wasm"), "{wasm}");
        assert!(get("/sub/../index.html").starts_with("HTTP/1.1 404"));
        assert!(get("/index.html?x=1#y").contains("<p>hi</p>"));
        assert_eq!(server.log.lock().unwrap().len(), 3);
    }
}
