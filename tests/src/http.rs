//! A small HTTP server on 127.0.0.1 that tests start to stand in for an
//! upstream API (REDCap, Calpendo). A handler turns each request into a
//! [`Reply`]; every request is recorded so a test can check what was sent.
//! Each request is answered on its own thread, so a slow reply does not hold
//! up the others, and the server stops when it is dropped.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the fake server received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target: path plus query string, still percent-encoded.
    pub url: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body decoded as `application/x-www-form-urlencoded` pairs, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.body.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The first form value named `key`.
    pub fn form_value(&self, key: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The path without the query string, percent-decoded segment by segment.
    pub fn path_segments(&self) -> Vec<String> {
        let path = self.url.split('?').next().unwrap_or_default();
        path.split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect()
    }
}

fn percent_decode(segment: &str) -> String {
    // form_urlencoded also turns '+' into a space, which a path keeps as is.
    let escaped = segment.replace('+', "%2B");
    form_urlencoded::parse(format!("x={escaped}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// What the fake server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    /// How long to wait before answering (to outlast a client's timeout).
    pub delay: Duration,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply::raw(status, "application/json", body.to_string())
    }

    /// A body of the given content type, sent as is.
    pub fn raw(status: u16, content_type: &str, body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: content_type.to_string(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// An HTML page, as overloaded servers send.
    pub fn html(status: u16, body: &str) -> Reply {
        Reply::raw(status, "text/html; charset=UTF-8", body)
    }

    /// The same reply, sent after `delay`.
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running fake server; stops when dropped.
pub struct FakeServer {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Starts a server on 127.0.0.1 (a free port) answering with `handler`.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        FakeServer::on(listener, handler)
    }

    /// Starts a server on `listener` (one bound on 127.0.0.1, e.g. handed
    /// over by [`crate::in_child`]) answering with `handler`.
    pub fn on(
        listener: TcpListener,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> FakeServer {
        let server = tiny_http::Server::from_listener(listener, None).expect("serve the listener");
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let accept = {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || serve(server, handler, requests, stop))
        };
        FakeServer {
            url: format!("http://127.0.0.1:{port}"),
            requests,
            stop,
            accept: Some(accept),
        }
    }

    /// The server's base URL, `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("request log").clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(
    server: tiny_http::Server,
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let mut incoming = match server.recv_timeout(Duration::from_millis(50)) {
            Ok(Some(request)) => request,
            Ok(None) => continue,
            Err(_) => break,
        };
        let mut body = String::new();
        let _ = incoming.as_reader().read_to_string(&mut body);
        let request = Request {
            method: incoming.method().as_str().to_string(),
            url: incoming.url().to_string(),
            headers: incoming
                .headers()
                .iter()
                .map(|h| {
                    (
                        h.field.as_str().as_str().to_ascii_lowercase(),
                        h.value.as_str().to_string(),
                    )
                })
                .collect(),
            body,
        };
        requests.lock().expect("request log").push(request.clone());
        let handler = Arc::clone(&handler);
        std::thread::spawn(move || {
            let reply = handler(&request);
            std::thread::sleep(reply.delay);
            let header = tiny_http::Header::from_bytes("Content-Type", reply.content_type)
                .expect("valid content type header");
            let response = tiny_http::Response::from_string(reply.body)
                .with_status_code(reply.status)
                .with_header(header);
            // The client may have given up (timeout tests): nothing to do then.
            let _ = incoming.respond(response);
        });
    }
}
