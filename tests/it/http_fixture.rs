//! A tiny HTTP/1.1 file server on 127.0.0.1 for the download tests: serves a directory,
//! honours `Range: bytes=N-`, counts requests, and can be told to answer 503 or to drop the
//! connection part-way through a body, so retries and resumption can be observed.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request path.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
}

#[derive(Default)]
struct State {
    seen: Mutex<Vec<Seen>>,
    fail_503: AtomicUsize,
    drop_after: Mutex<Option<usize>>,
    ignore_ranges: AtomicBool,
    stop: AtomicBool,
}

/// The running server; stopped on drop.
pub struct Server {
    port: u16,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `root` on an ephemeral port of 127.0.0.1.
    pub fn start(root: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local address").port();
        let state = Arc::new(State::default());
        let root = root.to_path_buf();
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&shared);
                let root = root.clone();
                std::thread::spawn(move || serve(stream, &root, &state));
            }
        });
        Server {
            port,
            state,
            thread: Some(thread),
        }
    }

    /// The URL of `path` (relative to the served directory).
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// The server's root URL, without a trailing slash.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// How many requests asked for `path`.
    pub fn count(&self, path: &str) -> usize {
        let path = format!("/{}", path.trim_start_matches('/'));
        self.seen().iter().filter(|s| s.path == path).count()
    }

    /// The next `n` requests are answered with 503.
    pub fn fail_next(&self, n: usize) {
        self.state.fail_503.store(n, Ordering::SeqCst);
    }

    /// The next successful response announces the full length but closes the connection
    /// after `bytes` bytes of body.
    pub fn drop_next_after(&self, bytes: usize) {
        *self.state.drop_after.lock().unwrap() = Some(bytes);
    }
}

impl Server {
    /// From now on, `Range` headers are ignored: every answer is the whole file (200).
    pub fn ignore_ranges(&self) {
        self.state.ignore_ranges.store(true, Ordering::SeqCst);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut stream: TcpStream, root: &Path, state: &State) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return;
    }
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_owned());
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    state.seen.lock().unwrap().push(Seen {
        path: path.clone(),
        range: range.clone(),
    });
    if state
        .fail_503
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        respond(&mut stream, "503 Service Unavailable", &[], b"busy\n");
        return;
    }
    let Some(file) = local_path(root, &path) else {
        respond(&mut stream, "404 Not Found", &[], b"not found\n");
        return;
    };
    let Ok(body) = std::fs::read(&file) else {
        respond(&mut stream, "404 Not Found", &[], b"not found\n");
        return;
    };
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|_| !state.ignore_ranges.load(Ordering::SeqCst));
    let (status, headers, part) = match start {
        Some(start) if start >= body.len() => {
            let headers = vec![format!("Content-Range: bytes */{}", body.len())];
            respond(&mut stream, "416 Range Not Satisfiable", &headers, b"");
            return;
        }
        Some(start) => (
            "206 Partial Content",
            vec![format!(
                "Content-Range: bytes {start}-{}/{}",
                body.len() - 1,
                body.len()
            )],
            &body[start..],
        ),
        None => ("200 OK", Vec::new(), &body[..]),
    };
    let cut = state.drop_after.lock().unwrap().take();
    match cut {
        Some(cut) if cut < part.len() => {
            let mut head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                part.len()
            );
            for h in &headers {
                head.push_str(h);
                head.push_str("\r\n");
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&part[..cut]);
            let _ = stream.flush();
            let _ = stream.shutdown(Shutdown::Both);
        }
        _ => respond(&mut stream, status, &headers, part),
    }
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[String], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn local_path(root: &Path, path: &str) -> Option<PathBuf> {
    let path = path.split('?').next()?;
    let mut out = root.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if part == ".." || part == "." {
            return None;
        }
        out.push(part);
    }
    out.is_file().then_some(out)
}
