//! A client of the REST API for one tenant: calls that must succeed (and give their JSON),
//! calls whose status a test checks, and waiting until a resource gets somewhere.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

/// The REST API of `app` with one tenant's token.
pub struct Api<'a> {
    pub app: &'a TestApp,
    pub token: String,
}

impl<'a> Api<'a> {
    /// A new tenant called `name`, and the API with its token.
    pub async fn of_new_tenant(app: &'a TestApp, name: &str) -> Self {
        let (_, token) = app.tenant(name).await;
        Self { app, token }
    }
}

impl Api<'_> {
    /// A request with the token, and `body` (JSON text) if there is one.
    fn request(&self, method: Method, path: &str, body: Option<String>) -> reqwest::RequestBuilder {
        let req = self
            .app
            .http
            .request(method, self.app.url(path))
            .bearer_auth(&self.token);
        match body {
            Some(body) => req.header("content-type", "application/json").body(body),
            None => req,
        }
    }

    /// Sends `body` (JSON text) with extra `headers`: the status and the answer, as JSON
    /// when it is JSON, else as a string.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = self.request(method, path, body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("calling the API");
        let status = res.status();
        let text = res.text().await.expect("reading the API's answer");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Sends `body`: the status and the answer.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.raw(method, path, body.map(|b| b.to_string()), &[]).await
    }

    /// A call that must succeed: its JSON answer (`null` when it has none).
    pub async fn call(&self, method: Method, path: &str, body: Option<String>) -> Value {
        let res = self
            .request(method, path, body)
            .send()
            .await
            .expect("calling the API");
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap_or(Value::Null)
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.call(Method::POST, path, Some(body.to_string())).await
    }

    pub async fn get(&self, path: &str) -> Value {
        self.call(Method::GET, path, None).await
    }

    /// Creates an endpoint of application `app` and gives its id.
    pub async fn endpoint_id(&self, app: &str, body: Value) -> String {
        self.post(&format!("/api/v1/app/{app}/endpoint"), body).await["id"]
            .as_str()
            .expect("an endpoint has an id")
            .to_owned()
    }

    /// Polls `path` until `done` holds for its JSON (20 s at most).
    pub async fn wait_for(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let found = crate::eventually(Duration::from_secs(20), async || {
            Some(self.get(path).await).filter(|v| done(v))
        })
        .await;
        if let Some(value) = found {
            return value;
        }
        panic!(
            "{path} never got there: {}\nqueue: {}",
            self.get(path).await,
            queue(self.app).await
        );
    }
}

/// A tenant `T` with an application `acme` (uid and name `Acme`), and its API.
pub async fn setup(app: &TestApp) -> Api<'_> {
    let api = Api::of_new_tenant(app, "T").await;
    api.post("/api/v1/app", json!({"name": "Acme", "uid": "acme"}))
        .await;
    api
}

/// How many items a list answer holds.
pub fn attempts(list: &Value) -> usize {
    list["data"].as_array().map_or(0, Vec::len)
}

/// The delivery queue as the database has it, for failure messages.
async fn queue(app: &TestApp) -> String {
    use domain::entity::destination;
    use sea_orm::{EntityTrait, QueryOrder};
    #[expect(clippy::disallowed_methods, reason = "a test's view of every tenant's queue")]
    let rows = destination::Entity::find()
        .order_by_asc(destination::Column::Id)
        .all(&app.ctx.db)
        .await
        .expect("reading the queue");
    let rows: Vec<String> = rows
        .iter()
        .map(|d| {
            format!(
                "{} {:?} tries={} next={:?} trigger={:?}",
                d.id, d.status, d.attempt_count, d.next_attempt_at, d.next_trigger
            )
        })
        .collect();
    format!("{rows:#?} now={}", chrono::Utc::now())
}
