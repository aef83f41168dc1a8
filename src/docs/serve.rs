//! `silt docs serve`: the site's files over HTTP/1.1, read-only, from one folder. A few
//! requests at a time from one user's browser: a thread per connection, no dependencies.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// A bound server; [`Server::run`] serves until the process ends.
pub struct Server {
    listener: TcpListener,
    root: PathBuf,
}

impl Server {
    /// Binds `host:port` (port 0: any free port) to serve the files under `root`.
    pub fn bind(root: &Path, host: &str, port: u16) -> std::io::Result<Server> {
        let listener = TcpListener::bind((host, port))?;
        Ok(Server { listener, root: root.to_owned() })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves connections until the process ends.
    pub fn run(self) -> std::io::Result<()> {
        for stream in self.listener.incoming() {
            let Ok(stream) = stream else { continue };
            let root = self.root.clone();
            std::thread::spawn(move || {
                let _ = handle(stream, &root);
            });
        }
        Ok(())
    }
}

fn handle(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut keep_alive = true;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("connection") && value.trim().eq_ignore_ascii_case("close") {
                    keep_alive = false;
                }
            }
        }
        let mut parts = request_line.split_whitespace();
        let (method, target, version) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if version == "HTTP/1.0" {
            keep_alive = false;
        }
        let head = method == "HEAD";
        let response = if method != "GET" && !head {
            Response::text(405, "Method Not Allowed", "only GET and HEAD are served\n")
        } else {
            match resolve(root, target) {
                Some(path) => match std::fs::read(&path) {
                    Ok(body) => Response { status: 200, reason: "OK", content_type: content_type(&path), body },
                    Err(_) => Response::text(404, "Not Found", "not found\n"),
                },
                None => Response::text(404, "Not Found", "not found\n"),
            }
        };
        write!(
            out,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: {}\r\n\r\n",
            response.status,
            response.reason,
            response.content_type,
            response.body.len(),
            if keep_alive { "keep-alive" } else { "close" }
        )?;
        if !head {
            out.write_all(&response.body)?;
        }
        out.flush()?;
        if !keep_alive {
            return Ok(());
        }
    }
}

struct Response {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Response {
    fn text(status: u16, reason: &'static str, body: &str) -> Response {
        Response { status, reason, content_type: "text/plain; charset=utf-8", body: body.as_bytes().to_vec() }
    }
}

/// The file a request path names under `root`: percent-decoded, query and fragment
/// dropped, `index.html` for folders; `None` for anything that would leave `root`.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path)?;
    let mut out = root.to_path_buf();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if out.is_dir() {
        out.push("index.html");
    }
    out.is_file().then_some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let text = String::from_utf8(out).ok()?;
    // A NUL can't name a file; refuse it rather than let the OS decide.
    (!text.contains('\0')).then_some(text)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<p>hi</p>").unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/a b.js"), "x").unwrap();
        let root = dir.path();
        assert_eq!(resolve(root, "/"), Some(root.join("index.html")));
        assert_eq!(resolve(root, "/index.html?x=1#/node/a"), Some(root.join("index.html")));
        assert_eq!(resolve(root, "/data/a%20b.js"), Some(root.join("data/a b.js")));
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/data/%2e%2e/%2e%2e/x"), None);
        assert_eq!(resolve(root, "/missing.js"), None);
        assert_eq!(resolve(root, "/%zz"), None);
        assert_eq!(content_type(Path::new("a/docs.js")), "text/javascript; charset=utf-8");
    }
}
