//! The dashboard and the portal over HTTP, as a browser without JavaScript uses them:
//! who may see and do what (anonymous, viewer, admin, another tenant's admin, a portal
//! session of another application), CSRF, sign-in throttling, escaping. Here: the
//! cookie-keeping [`Browser`], the [`world`] the tests start from, and what a refused
//! change must leave as it was ([`snapshot`]).

mod access;
mod forms;
mod inspector;
mod sessions;
mod verification;

use std::collections::BTreeMap;

use domain::{
    entity::{application, audit_event, endpoint, endpoint_secret, message},
    id::TenantId,
    service::{self, audit::Actor},
    values::{Email, Role},
};
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};
use serde_json::json;
use tests::TestApp;

/// What a page answered.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: String,
    pub(crate) body: String,
}

impl Answer {
    /// The CSRF token of the first form on the page.
    pub(crate) fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.body.find(marker).expect("the page has a form") + marker.len();
        self.body[start..start + 64].to_owned()
    }

    pub(crate) fn redirects_to(&self, path: &str) -> bool {
        self.status == 303 && self.location.ends_with(path)
    }
}

/// A cookie-keeping client that does not follow redirects.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    cookies: BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let res = req.header("cookie", cookie).send().await.unwrap();
        for set in res.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Answer {
            status: res.status().as_u16(),
            location: res
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            body: res.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let req = self.app.http.get(self.app.url(path));
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let req = self
            .app
            .http
            .post(self.app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) -> Answer {
        let csrf = self.get("/ui/login").await.csrf();
        self.post(
            "/ui/login",
            &[("email", email), ("password", password), ("csrf", &csrf)],
        )
        .await
    }

    /// The CSRF token of the session, read off a page.
    pub(crate) async fn csrf(&mut self, page: &str) -> String {
        self.get(page).await.csrf()
    }
}

pub(crate) const PASSWORD: &str = "correct horse battery";

pub(crate) async fn user(app: &TestApp, tenant: &TenantId, email: &str, role: Role) {
    service::user::create(
        &app.ctx,
        tenant,
        &Email::parse(email).unwrap(),
        role,
        PASSWORD.into(),
        &Actor::Cli,
    )
    .await
    .unwrap();
}

/// Tenant A with an admin and a viewer, an application with an endpoint and a message;
/// tenant B with an admin.
pub(crate) struct World {
    pub(crate) tenant_a: TenantId,
    pub(crate) app_path: String,
    pub(crate) endpoint_path: String,
    pub(crate) message_path: String,
    pub(crate) token_a: String,
}

pub(crate) async fn world(app: &TestApp) -> World {
    let (a, token_a) = app.tenant("A").await;
    let (b, _) = app.tenant("B").await;
    user(app, &a, "admin@a.test", Role::Admin).await;
    user(app, &a, "viewer@a.test", Role::Viewer).await;
    user(app, &b, "admin@b.test", Role::Admin).await;
    let api = tests::api::Api {
        app,
        token: token_a.clone(),
    };
    for name in ["user.created", "user.deleted"] {
        api.post(
            "/api/v1/event-type",
            json!({"name": name, "description": "a user event"}),
        )
        .await;
    }
    let created = api
        .post("/api/v1/app", json!({"name": "Acme", "uid": "acme"}))
        .await;
    let app_id = created["id"].as_str().unwrap().to_owned();
    let ep = api
        .post(
            "/api/v1/app/acme/endpoint",
            json!({"url": "https://example.com/hook", "description": "<b>desc</b>"}),
        )
        .await;
    let msg = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "user.created", "payload": {"text": "<script>alert(1)</script>"}}),
        )
        .await;
    let app_path = format!("/ui/apps/{app_id}");
    World {
        tenant_a: a.clone(),
        endpoint_path: format!("{app_path}/endpoints/{}", ep["id"].as_str().unwrap()),
        message_path: format!("{app_path}/messages/{}", msg["id"].as_str().unwrap()),
        app_path,
        token_a,
    }
}

/// The rows of every tenant that the forms of [`changes`] write: applications (a rename
/// changes one), endpoints (URL, description, state, filters, headers), signing keys,
/// messages (a test message is one) and audit entries (every change makes one, a portal
/// link nothing else).
async fn rows(app: &TestApp) -> Vec<String> {
    let db = &app.ctx.db;
    #[expect(clippy::disallowed_methods, reason = "the test reads every tenant's rows")]
    let apps = application::Entity::find()
        .order_by_asc(application::Column::Id)
        .all(db);
    #[expect(clippy::disallowed_methods, reason = "the test reads every tenant's rows")]
    let endpoints = endpoint::Entity::find()
        .order_by_asc(endpoint::Column::Id)
        .all(db);
    #[expect(clippy::disallowed_methods, reason = "the test reads every tenant's rows")]
    let secrets = endpoint_secret::Entity::find()
        .order_by_asc(endpoint_secret::Column::Id)
        .all(db);
    #[expect(clippy::disallowed_methods, reason = "the test reads every tenant's rows")]
    let messages = message::Entity::find().order_by_asc(message::Column::Id).all(db);
    #[expect(clippy::disallowed_methods, reason = "the test counts every tenant's rows")]
    let audit = audit_event::Entity::find().count(db).await.unwrap();
    let mut rows: Vec<String> = apps
        .await
        .unwrap()
        .iter()
        .map(|a| format!("app {} {:?} {:?}", a.id, a.name, a.uid))
        .collect();
    rows.extend(endpoints.await.unwrap().iter().map(|e| {
        format!(
            "endpoint {} {:?} {:?} disabled={} types={:?} headers={:?}",
            e.id, e.url, e.description, e.disabled, e.filter_types, e.headers
        )
    }));
    rows.extend(
        secrets
            .await
            .unwrap()
            .iter()
            .map(|s| format!("secret {} {:?} {:?}", s.endpoint_id, s.ciphertext, s.expires_at)),
    );
    rows.extend(
        messages
            .await
            .unwrap()
            .iter()
            .map(|m| format!("message {} {}", m.id, m.event_type)),
    );
    rows.push(format!("{audit} audit entries"));
    rows
}

/// Every change a form can make, for `w`'s application and tenant, with `csrf`.
async fn changes<'a>(app: &TestApp, w: &'a World, csrf: &'a str) -> Vec<(String, Vec<(&'a str, &'a str)>)> {
    let c = ("csrf", csrf);
    let token = service::token::list(&app.ctx.db, &w.tenant_a).await.unwrap()[0]
        .id
        .clone();
    let viewer = service::user::list(&app.ctx.db, &w.tenant_a)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.role == Role::Viewer)
        .unwrap()
        .id;
    vec![
        (
            "/ui/event-types/user.created/edit".into(),
            vec![c, ("description", "changed")],
        ),
        ("/ui/event-types/user.created/archive".into(), vec![c]),
        (format!("/ui/tokens/{token}/revoke"), vec![c]),
        (format!("/ui/team/{viewer}/role"), vec![c, ("role", "admin")]),
        (format!("/ui/team/{viewer}/remove"), vec![c]),
        (
            format!("{}/headers", w.endpoint_path),
            vec![c, ("headers", "X-Team: changed")],
        ),
        (format!("{}/rename", w.app_path), vec![c, ("name", "Renamed")]),
        (
            format!("{}/endpoints", w.app_path),
            vec![c, ("url", "https://example.org/x")],
        ),
        (
            format!("{}/edit", w.endpoint_path),
            vec![c, ("url", "https://example.org/edited")],
        ),
        (format!("{}/rotate", w.endpoint_path), vec![c]),
        (format!("{}/verification", w.endpoint_path), vec![c]),
        (
            format!("{}/test", w.endpoint_path),
            vec![c, ("event_type", "herald.test")],
        ),
        (format!("{}/portal-link", w.app_path), vec![c]),
        (format!("{}/delete", w.endpoint_path), vec![c]),
        (format!("{}/delete", w.app_path), vec![c]),
        // Tenant-wide creations last (another tenant may make its own).
        (
            "/ui/apps/defaults".into(),
            vec![c, ("require_verification", "on")],
        ),
        ("/ui/apps".into(), vec![c, ("name", "New")]),
        ("/ui/event-types".into(), vec![c, ("name", "made.up")]),
        ("/ui/tokens".into(), vec![c, ("name", "made up")]),
        (
            "/ui/team".into(),
            vec![
                c,
                ("email", "new@a.test"),
                ("role", "admin"),
                ("password", "long enough pw"),
            ],
        ),
    ]
}

/// Everything the forms of [`changes`] could alter.
async fn snapshot(app: &TestApp, w: &World) -> (Vec<String>, String) {
    (rows(app).await, tenant_state(app, &w.tenant_a).await)
}

/// What the tenant-wide pages' forms could change, beyond [`rows`] (the defaults for new
/// applications among them).
async fn tenant_state(app: &TestApp, tenant: &TenantId) -> String {
    let tokens = service::token::list(&app.ctx.db, tenant).await.unwrap();
    let users = service::user::list(&app.ctx.db, tenant).await.unwrap();
    let defaults = service::tenant::get(&app.ctx.db, tenant)
        .await
        .unwrap()
        .require_endpoint_verification;
    let types = service::event_type::list(&app.ctx.db, tenant, &Default::default(), true)
        .await
        .unwrap()
        .data;
    format!(
        "{:?}",
        (
            tokens.iter().map(|t| (&t.name, t.revoked_at)).collect::<Vec<_>>(),
            users.iter().map(|u| (&u.email, u.role)).collect::<Vec<_>>(),
            types
                .iter()
                .map(|t| (&t.name, &t.description, t.archived))
                .collect::<Vec<_>>(),
            defaults,
        )
    )
}
