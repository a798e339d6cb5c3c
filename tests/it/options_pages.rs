//! An endpoint's delivery options on the dashboard and the portal, as a browser without
//! JavaScript uses them: ordered delivery and credentials set through the forms (secrets
//! never shown, kept when left blank), bad values refused beside their field, and a
//! stopped line shown and released.

use domain::{
    entity::endpoint::{self, OnFailure},
    service::{self, audit::Actor},
    values::{Email, Role, access::Auth},
};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::json;
use tests::TestApp;

use crate::dashboard::{Browser, PASSWORD};

/// The gateway password set through the form; it must never come back.
const GATEWAY_PASSWORD: &str = "s3cret-gateway-pw";

/// A tenant with an application `acme`; an admin signed in to the dashboard.
pub(crate) struct World<'a> {
    pub(crate) admin: Browser<'a>,
    pub(crate) api: tests::api::Api<'a>,
    pub(crate) app_path: String,
}

pub(crate) async fn world(app: &TestApp) -> World<'_> {
    let (tenant, token) = app.tenant("A").await;
    service::user::create(
        &app.ctx,
        &tenant,
        &Email::parse("admin@a.test").unwrap(),
        Role::Admin,
        PASSWORD.into(),
        &Actor::Cli,
    )
    .await
    .unwrap();
    let api = tests::api::Api { app, token };
    api.post(
        "/api/v1/event-type",
        json!({"name": "user.created", "description": "a user event"}),
    )
    .await;
    let created = api
        .post("/api/v1/app", json!({"name": "Acme", "uid": "acme"}))
        .await;
    let app_path = format!("/ui/apps/{}", created["id"].as_str().unwrap());
    let mut admin = Browser::new(app);
    let csrf = admin.get("/ui/login").await.csrf();
    let signed = admin
        .post(
            "/ui/login",
            &[("email", "admin@a.test"), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(signed.status, 303, "signing in");
    World { admin, api, app_path }
}

async fn endpoint_row(app: &TestApp, id: &str) -> endpoint::Model {
    #[expect(clippy::disallowed_methods, reason = "the test reads the row it made")]
    let found = endpoint::Entity::find_by_id(domain::id::EndpointId::parse(id).unwrap())
        .one(&app.ctx.db)
        .await
        .unwrap();
    found.unwrap()
}

/// The raw `access` column of endpoint `id`, as stored.
async fn access_column(app: &TestApp, id: &str) -> String {
    let row = app
        .ctx
        .db
        .query_one_raw(Statement::from_string(
            app.ctx.db.get_database_backend(),
            format!("SELECT access FROM endpoint WHERE id = '{id}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    let access: Option<serde_json::Value> = row.try_get("", "access").unwrap();
    access.map(|a| a.to_string()).unwrap_or_default()
}

/// The endpoint form's fields as the page fills them in, with `changes` over them.
fn form<'f>(csrf: &'f str, url: &'f str, changes: &[(&'f str, &'f str)]) -> Vec<(&'f str, &'f str)> {
    let mut fields = vec![
        ("csrf", csrf),
        ("url", url),
        ("description", ""),
        ("event_types", ""),
        ("channels", ""),
        ("rate_limit", ""),
        ("timeout", ""),
        ("ordered", "off"),
        ("auth_type", "none"),
        ("auth_username", ""),
        ("auth_password", ""),
        ("auth_token", ""),
        ("oauth_token_url", ""),
        ("oauth_client_id", ""),
        ("oauth_client_secret", ""),
        ("oauth_scopes", ""),
        ("oauth_audience", ""),
        ("oauth_client_auth", "basic"),
        ("oauth_params", ""),
        ("tls_client_cert", ""),
        ("tls_client_key", ""),
        ("tls_ca_cert", ""),
    ];
    for (name, value) in changes {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value,
            None => fields.push((name, value)),
        }
    }
    fields
}

/// Creates an endpoint through the "Add endpoint" form; returns its id and page.
async fn add_endpoint(w: &mut World<'_>, changes: &[(&str, &str)]) -> (String, String) {
    let csrf = w.admin.get(&w.app_path).await.csrf();
    let url = "https://example.com/hook";
    let added = w
        .admin
        .post(&format!("{}/endpoints", w.app_path), &form(&csrf, url, changes))
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let id = added.location.rsplit('/').next().unwrap().to_owned();
    (id, added.location)
}

#[tokio::test]
async fn ordered_delivery_and_basic_auth_are_set_by_the_forms_and_the_password_never_shows() {
    let app = TestApp::spawn().await;
    let mut w = world(&app).await;
    let (id, page) = add_endpoint(
        &mut w,
        &[
            ("ordered", "stop"),
            ("auth_type", "basic"),
            ("auth_username", "svc"),
            ("auth_password", GATEWAY_PASSWORD),
        ],
    )
    .await;
    let row = endpoint_row(&app, &id).await;
    assert_eq!(row.ordered, Some(OnFailure::Stop));
    assert_eq!(
        row.access.as_ref().and_then(|a| a.auth.clone()),
        Some(Auth::Basic {
            username: "svc".into()
        })
    );
    assert!(row.credentials.is_some(), "the password is sealed beside the row");
    let column = access_column(&app, &id).await;
    assert!(
        column.contains("svc") && !column.contains(GATEWAY_PASSWORD),
        "{column}"
    );

    // The page shows the options, the password only masked.
    let shown = w.admin.get(&page).await;
    assert_eq!(shown.status, 200);
    assert!(
        !shown.body.contains(GATEWAY_PASSWORD),
        "the password is on the page"
    );
    assert!(
        shown.body.contains(r#"<option value="stop" selected>"#),
        "ordered = stop is selected"
    );
    assert!(
        shown.body.contains(r#"<option value="basic" selected>"#),
        "basic is selected"
    );
    assert!(shown.body.contains(r#"value="svc""#), "the username is shown");
    assert!(shown.body.contains("HTTP Basic as svc, password ••••••••"));

    // Saving the form again with the password left blank keeps the credentials.
    let sealed = row.credentials.clone();
    let csrf = shown.csrf();
    let saved = w
        .admin
        .post(
            &format!("{page}/edit"),
            &form(
                &csrf,
                "https://example.com/hook",
                &[
                    ("description", "kept"),
                    ("ordered", "stop"),
                    ("auth_type", "basic"),
                    ("auth_username", "svc"),
                ],
            ),
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let row = endpoint_row(&app, &id).await;
    assert_eq!(row.description, "kept");
    assert_eq!(row.ordered, Some(OnFailure::Stop));
    assert_eq!(
        row.access.as_ref().and_then(|a| a.auth.clone()),
        Some(Auth::Basic {
            username: "svc".into()
        })
    );
    assert_eq!(row.credentials, sealed, "the sealed password is kept as it was");

    // A new user name needs the password again: refused beside the field, nothing changed.
    let renamed = w
        .admin
        .post(
            &format!("{page}/edit"),
            &form(
                &csrf,
                "https://example.com/hook",
                &[
                    ("ordered", "stop"),
                    ("auth_type", "basic"),
                    ("auth_username", "other"),
                ],
            ),
        )
        .await;
    assert_eq!(renamed.status, 422);
    assert!(
        renamed.body.contains("Password must not be empty"),
        "{}",
        renamed.body
    );
    assert_eq!(endpoint_row(&app, &id).await.credentials, sealed);

    // "None" removes the credentials; "off" makes the endpoint unordered.
    let removed = w
        .admin
        .post(
            &format!("{page}/edit"),
            &form(&csrf, "https://example.com/hook", &[]),
        )
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    let row = endpoint_row(&app, &id).await;
    assert_eq!((row.ordered, row.access, row.credentials), (None, None, None));
}

#[tokio::test]
async fn a_bad_token_url_is_refused_beside_its_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut w = world(&app).await;
    let (id, page) = add_endpoint(&mut w, &[]).await;
    let before = endpoint_row(&app, &id).await;
    let csrf = w.admin.get(&page).await.csrf();
    let oauth = [
        ("description", "changed"),
        ("ordered", "release"),
        ("auth_type", "oauth2"),
        ("oauth_token_url", "ftp://x"),
        ("oauth_client_id", "client"),
        ("oauth_client_secret", "oauth-secret-value"),
        ("oauth_scopes", "read write"),
    ];
    let refused = w
        .admin
        .post(
            &format!("{page}/edit"),
            &form(&csrf, "https://example.com/hook", &oauth),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused
            .body
            .contains(r#"<p id="o-token-url-error" class="field-error">Token URL "#),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains(r#"value="ftp://x""#),
        "what was typed is kept"
    );
    assert!(
        refused.body.contains(r#"value="read write""#),
        "what was typed is kept"
    );
    assert!(
        !refused.body.contains("oauth-secret-value"),
        "secrets are never sent back"
    );
    assert_eq!(endpoint_row(&app, &id).await, before, "nothing changed");

    // Adding an endpoint with it is refused the same way, and adds nothing.
    let csrf = w.admin.get(&w.app_path).await.csrf();
    let added = w
        .admin
        .post(
            &format!("{}/endpoints", w.app_path),
            &form(&csrf, "https://example.com/other", &oauth),
        )
        .await;
    assert_eq!(added.status, 422);
    assert!(added.body.contains("Token URL "), "{}", added.body);
    let listed = w.api.get("/api/v1/app/acme/endpoint").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_stopped_line_shows_and_the_release_button_restarts_it() {
    let app = TestApp::spawn().await;
    let mut w = world(&app).await;
    let (id, page) = add_endpoint(&mut w, &[("ordered", "stop")]).await;
    let first = w
        .api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "user.created", "payload": {"n": 1}}),
        )
        .await;
    let second = w
        .api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "user.created", "payload": {"n": 2}}),
        )
        .await;
    let (first, second) = (first["id"].as_str().unwrap(), second["id"].as_str().unwrap());

    let running = w.admin.get(&page).await;
    assert!(running.body.contains("Head of the line:"), "{}", running.body);
    assert!(
        running
            .body
            .contains(&format!("<code>{first}</code></a>, 1 waiting behind it"))
    );
    assert!(!running.body.contains("Release the line"));

    app.ctx
        .db
        .execute_raw(Statement::from_string(
            app.ctx.db.get_database_backend(),
            format!("INSERT INTO delivery_lane (endpoint_id, stopped_by) VALUES ('{id}', '{first}')"),
        ))
        .await
        .unwrap();
    let stopped = w.admin.get(&page).await;
    assert!(
        stopped.body.contains(&format!(
            r#"The line is stopped by <a href="{}/messages/{first}"><code>{first}</code></a>"#,
            w.app_path
        )),
        "{}",
        stopped.body
    );
    assert!(stopped.body.contains("Release the line"));
    assert!(
        !stopped.body.contains(second),
        "only the head and the stop are named"
    );

    // Without the session's CSRF token nothing happens.
    let forged = w
        .admin
        .post(&format!("{page}/release"), &[("csrf", "forged")])
        .await;
    assert!(forged.status >= 400, "{}", forged.status);
    assert_eq!(stopped_by(&app, &id).await, Some(first.to_owned()));

    let released = w
        .admin
        .post(&format!("{page}/release"), &[("csrf", &stopped.csrf())])
        .await;
    assert_eq!(released.status, 303);
    assert!(released.location.contains("released=1"), "{}", released.location);
    assert_eq!(stopped_by(&app, &id).await, None);
    let after = w.admin.get(&released.location).await;
    assert!(after.body.contains("The line was released"), "{}", after.body);
    assert!(!after.body.contains("The line is stopped"));
}

#[tokio::test]
async fn the_portal_shows_and_edits_the_same_options() {
    let app = TestApp::spawn().await;
    let mut w = world(&app).await;
    let (id, _) = add_endpoint(
        &mut w,
        &[
            ("ordered", "release"),
            ("auth_type", "bearer"),
            ("auth_token", "bearer-token-value"),
        ],
    )
    .await;
    let access = w.api.post("/api/v1/auth/app-portal-access/acme", json!({})).await;
    let url = access["url"].as_str().unwrap();
    let mut customer = Browser::new(&app);
    customer.get(&url[url.find("/portal").unwrap()..]).await;
    let page = format!("/portal/app/endpoints/{id}");
    let shown = customer.get(&page).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("Bearer token ••••••••"), "{}", shown.body);
    assert!(shown.body.contains(r#"<option value="release" selected>"#));
    assert!(shown.body.contains("The line is empty"));
    assert!(!shown.body.contains("bearer-token-value"));

    let saved = customer
        .post(
            &format!("{page}/edit"),
            &form(
                &shown.csrf(),
                "https://example.com/hook",
                &[("ordered", "stop"), ("auth_type", "bearer")],
            ),
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let row = endpoint_row(&app, &id).await;
    assert_eq!(row.ordered, Some(OnFailure::Stop));
    assert_eq!(
        row.access.and_then(|a| a.auth),
        Some(Auth::Bearer {}),
        "the token is kept"
    );
}

async fn stopped_by(app: &TestApp, id: &str) -> Option<String> {
    let row = app
        .ctx
        .db
        .query_one_raw(Statement::from_string(
            app.ctx.db.get_database_backend(),
            format!("SELECT stopped_by FROM delivery_lane WHERE endpoint_id = '{id}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "stopped_by").unwrap()
}
