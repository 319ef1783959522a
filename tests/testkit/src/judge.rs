//! A scripted LLM judge for the tests of `lrpo-host eval`: an OpenAI-compatible server on
//! 127.0.0.1 (a free port) that answers `GET /v1/models` with the names it is given and each
//! `POST /v1/chat/completions` as a script decides: a reply text, an HTTP status, a body that is
//! not JSON, or a reply held back longer than the client waits. It keeps every request it got,
//! so a test can count the judge's calls.
//!
//! Plain `std::net`, one thread per connection, `Connection: close` on every response: the
//! tests send a few dozen requests, and a server with no dependencies cannot drift away from
//! what the test means.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the judge does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A 200 whose `choices[0].message.content` is this text.
    Text(String),
    /// This status with a short JSON error body.
    Status(u16),
    /// A 200 whose body is not JSON.
    NotJson,
    /// Waits this long, then replies with the text (a client with a shorter timeout is gone).
    Late(Duration, String),
}

/// One request the judge got.
#[derive(Debug, Clone)]
pub struct Call {
    /// The user message (the judge prompt).
    pub prompt: String,
    pub body: Value,
    pub authorization: Option<String>,
}

type Script = dyn Fn(&str, usize) -> Reply + Send + Sync;

struct Shared {
    script: Box<Script>,
    models: Vec<String>,
    calls: Mutex<Vec<Call>>,
    /// How often each prompt was asked, so a script can answer a retry differently.
    seen: Mutex<HashMap<String, usize>>,
}

/// The running server; stopped when dropped.
pub struct JudgeServer {
    pub url: String,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl JudgeServer {
    /// Starts a judge serving `models`; `script(prompt, attempt)` answers the `attempt`-th
    /// (from 0) request carrying `prompt`.
    pub fn start(models: &[&str], script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> JudgeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            script: Box::new(script),
            models: models.iter().map(|m| m.to_string()).collect(),
            calls: Mutex::new(Vec::new()),
            seen: Mutex::new(HashMap::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let s = s.clone();
                    std::thread::spawn(move || {
                        let _ = serve(stream, &s);
                    });
                }
            }
        });
        JudgeServer { url: format!("http://127.0.0.1:{port}"), shared, stop, port }
    }

    /// Every chat request so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }
}

impl Drop for JudgeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn respond(stream: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn serve(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    if request_line.starts_with("GET") && path == "/v1/models" {
        let data: Vec<Value> = shared.models.iter().map(|m| json!({"id": m, "object": "model"})).collect();
        return respond(&mut stream, 200, &json!({"object": "list", "data": data}).to_string());
    }
    if !(request_line.starts_with("POST") && path == "/v1/chat/completions") {
        return respond(&mut stream, 404, "{\"error\":{\"message\":\"no such route\"}}");
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let prompt = body.pointer("/messages/0/content").and_then(Value::as_str).unwrap_or("").to_string();
    let attempt = {
        let mut seen = shared.seen.lock().unwrap();
        let n = seen.entry(prompt.clone()).or_default();
        *n += 1;
        *n - 1
    };
    shared.calls.lock().unwrap().push(Call { prompt: prompt.clone(), body, authorization });
    let text = |t: &str| json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": t}}]}).to_string();
    match (shared.script)(&prompt, attempt) {
        Reply::Text(t) => respond(&mut stream, 200, &text(&t)),
        Reply::Status(code) => respond(&mut stream, code, "{\"error\":{\"message\":\"scripted failure\"}}"),
        Reply::NotJson => respond(&mut stream, 200, "<html>oops</html>"),
        Reply::Late(wait, t) => {
            std::thread::sleep(wait);
            respond(&mut stream, 200, &text(&t))
        }
    }
}
