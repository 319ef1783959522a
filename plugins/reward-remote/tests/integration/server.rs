//! A tiny HTTP/1.1 server on 127.0.0.1 for the tests: it records every request and answers
//! what the test's handler says, one connection per request (`Connection: close`), each on its
//! own thread so that a slow answer does not hold up the next attempt.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What to answer.
pub enum Reply {
    /// Status and body text (sent as JSON).
    Body(u16, String),
    /// Wait, then answer.
    After(Duration, Box<Reply>),
}

pub fn ok(body: &str) -> Reply {
    Reply::Body(200, body.to_string())
}

pub struct TestServer {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

type Handler = dyn Fn(usize, &Seen) -> Reply + Send + Sync;

impl TestServer {
    /// Starts on a free port; `handler(n, request)` answers the n-th request (from 0).
    pub fn start(handler: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let url = format!("http://{}/get_reward", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::clone(&seen);
        // The thread lives as long as the test process; each test has its own port.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, handler) = (Arc::clone(&log), Arc::clone(&handler));
                std::thread::spawn(move || serve(stream, &log, handler.as_ref()));
            }
        });
        TestServer { url, seen }
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Seen>>, handler: &Handler) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').expect("a header line");
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .expect("the client sends Content-Length");
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    let body: Value = serde_json::from_slice(&body).expect("the client sends JSON");
    let request = Seen { path, headers, body };
    let n = {
        let mut log = log.lock().unwrap();
        log.push(request.clone());
        log.len() - 1
    };
    let mut reply = handler(n, &request);
    while let Reply::After(wait, then) = reply {
        std::thread::sleep(wait);
        reply = *then;
    }
    let Reply::Body(status, text) = reply else { unreachable!() };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        text.len()
    );
    let mut stream = stream;
    // The client may have given up already (the timeout test): a failed write is expected then.
    let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(text.as_bytes()));
}
