//! A receiver of Herald's webhooks: checks each delivery with the Standard Webhooks
//! crate, answers at once, skips a `webhook-id` it has already taken, and does the work
//! on a background task.
//!
//! Run it: `WEBHOOK_SECRET=whsec_... PORT=8000 cargo run`

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use standardwebhooks::Webhook;
use tokio::sync::mpsc;

struct Receiver {
    webhook: Webhook,
    /// The webhook-ids already taken. A real receiver keeps them in its database, with a
    /// unique key, so that they survive a restart and every copy of the receiver shares them.
    seen: Mutex<HashSet<String>>,
    jobs: mpsc::UnboundedSender<(String, serde_json::Value)>,
}

/// The signature covers the body byte for byte: take it as `Bytes`, parse it after.
async fn receive(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if let Err(error) = receiver.webhook.verify(&body, &headers) {
        eprintln!("invalid webhook: {error}");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(event) = serde_json::from_slice(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let msg_id = headers["webhook-id"].to_str().unwrap_or_default().to_owned();
    if !receiver.seen.lock().unwrap().insert(msg_id.clone()) {
        println!("duplicate {msg_id}");
        return StatusCode::OK;
    }
    receiver
        .jobs
        .send((msg_id, event))
        .expect("the worker runs as long as the server");
    StatusCode::NO_CONTENT
}

async fn work(mut jobs: mpsc::UnboundedReceiver<(String, serde_json::Value)>) {
    while let Some((msg_id, event)) = jobs.recv().await {
        // The slow part (emails, database writes, calls to other services) goes here,
        // long after Herald got its answer.
        println!("handled {msg_id} {}", event["type"]);
    }
}

#[tokio::main]
async fn main() {
    let secret = std::env::var("WEBHOOK_SECRET").expect("WEBHOOK_SECRET is set");
    let (jobs, queue) = mpsc::unbounded_channel();
    tokio::spawn(work(queue));
    let receiver = Arc::new(Receiver {
        webhook: Webhook::new(&secret).expect("WEBHOOK_SECRET is a whsec_ key"),
        seen: Mutex::default(),
        jobs,
    });
    let app = Router::new()
        .route("/webhooks", post(receive))
        .with_state(receiver);
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("the port is free");
    println!("listening on {}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}
