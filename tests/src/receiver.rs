//! A real webhook receiver: a local HTTP server that records every request and answers
//! with the statuses a test scripts.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Got {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: Instant,
}

/// A scripted "status" that makes the receiver wait 3 s before answering 200.
pub const SLOW: u16 = 999;
/// A scripted "status" that answers 200 with `{"challenge": …}` echoing the challenge of
/// a `webhook.verification` request (an endpoint that verifies itself).
pub const ECHO: u16 = 998;

impl Got {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the Standard Webhooks signature verifies with `secret` (`whsec_…`).
    pub fn verifies(&self, secret: &str) -> bool {
        let mut headers = http::HeaderMap::new();
        for (k, v) in &self.headers {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("a header name the receiver got"),
                v.parse().expect("a header value the receiver got"),
            );
        }
        standardwebhooks::Webhook::new(secret)
            .expect("a whsec_ signing secret")
            .verify(self.body.as_bytes(), &headers)
            .is_ok()
    }
}

/// A local HTTP server that records requests and answers with scripted statuses
/// (200 once the script is used up).
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Got>>>,
    _handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub async fn start(script: &[u16]) -> Self {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<u16>>()));
        let (g, s) = (got.clone(), script.clone());
        let server = HttpServer::new(move || {
            let (g, s) = (g.clone(), s.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (g, s) = (g.clone(), s.clone());
                async move {
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                        .collect();
                    g.lock().expect("a receiver's requests").push(Got {
                        method: req.method().to_string(),
                        path: req.uri().to_string(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                        at: Instant::now(),
                    });
                    let mut status = s.lock().expect("a receiver's script").pop_front().unwrap_or(200);
                    if status == SLOW {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        status = 200;
                    }
                    if status == ECHO {
                        let sent: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                        let challenge = sent["data"]["challenge"].as_str().unwrap_or_default();
                        return HttpResponse::Ok().json(serde_json::json!({ "challenge": challenge }));
                    }
                    let mut answer = HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(status).expect("a scripted HTTP status"),
                    );
                    // Scripted 429s ask for 2 s; scripted redirects point elsewhere.
                    if status == 429 {
                        answer.insert_header(("retry-after", "2"));
                    }
                    if (300..400).contains(&status) {
                        answer.insert_header(("location", "http://127.0.0.1:1/elsewhere"));
                    }
                    answer.body(format!("answer {status}"))
                }
            }))
        })
        .workers(2)
        .bind("127.0.0.1:0")
        .expect("binding a receiver to a free port");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            got,
            _handle: handle,
        }
    }

    /// Every request so far, in the order they came.
    pub fn got(&self) -> Vec<Got> {
        self.got.lock().expect("a receiver's requests").clone()
    }
}
