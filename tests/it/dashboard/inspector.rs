//! The inspector's pages as a browser without JavaScript uses them: an inbox made with
//! the form, a delivery to it shown and verified (and a tampered copy refused with the
//! reason), "send test event to a new inbox" from an endpoint and from an application,
//! bad input refused with nothing written, another tenant and the portal kept out.

use clap::Parser;
use domain::{
    entity::inbox,
    signing::{self, SigningSecret},
    values::Role,
};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;
use tests::{TestApp, api::Api, queue_app};

use super::{Browser, PASSWORD, rows, user};

/// Tenant A (an admin, a viewer, event types, the application Acme without endpoints
/// or messages: every delivery a test makes goes to an inbox on loopback) and tenant B
/// with an admin.
struct Setup<'a> {
    api: Api<'a>,
    app_path: String,
}

async fn setup(app: &TestApp) -> Setup<'_> {
    let (a, token) = app.tenant("A").await;
    let (b, _) = app.tenant("B").await;
    user(app, &a, "admin@a.test", Role::Admin).await;
    user(app, &a, "viewer@a.test", Role::Viewer).await;
    user(app, &b, "admin@b.test", Role::Admin).await;
    let api = Api { app, token };
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
    Setup {
        app_path: format!("/ui/apps/{}", created["id"].as_str().unwrap()),
        api,
    }
}

async fn admin(app: &TestApp) -> (Browser<'_>, String) {
    let mut admin = Browser::new(app);
    assert!(admin.sign_in("admin@a.test", PASSWORD).await.redirects_to("/ui"));
    let csrf = admin.csrf("/ui").await;
    (admin, csrf)
}

/// Every inbox of every tenant, with how it answers.
async fn inboxes(app: &TestApp) -> Vec<String> {
    #[expect(clippy::disallowed_methods, reason = "the test reads every tenant's rows")]
    let all = inbox::Entity::find()
        .order_by_asc(inbox::Column::Id)
        .all(&app.ctx.db)
        .await
        .unwrap();
    all.iter()
        .map(|i| {
            format!(
                "{} {:?} {} {:?} {} {:?}",
                i.id, i.name, i.response_status, i.response_body, i.response_delay_ms, i.script
            )
        })
        .collect()
}

/// Everything the inspector's forms could write.
async fn written(app: &TestApp) -> (Vec<String>, Vec<String>) {
    (rows(app).await, inboxes(app).await)
}

/// The value of the input with id `id` on `page`.
fn input(page: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}" readonly value=""#);
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {id}: {page}")) + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

/// The first link on `page` that contains `part`.
fn link(page: &str, part: &str) -> String {
    let at = page.find(part).unwrap_or_else(|| panic!("no {part}: {page}"));
    let start = page[..at].rfind('"').unwrap() + 1;
    page[start..at + page[at..].find('"').unwrap()].to_owned()
}

/// The `/ui/apps/…/endpoints/ep_…` of an endpoint page's address.
fn endpoint_id(location: &str) -> String {
    location.rsplit('/').next().unwrap().to_owned()
}

/// Makes an inbox with the form: its page.
async fn new_inbox(admin: &mut Browser<'_>, csrf: &str, name: &str) -> String {
    let made = admin
        .post(
            "/ui/inspector",
            &[
                ("csrf", csrf),
                ("name", name),
                ("expiry", "86400"),
                ("status", "200"),
                ("body", ""),
                ("delay", ""),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    assert!(
        made.location.starts_with("/ui/inspector/inbx_"),
        "{}",
        made.location
    );
    made.location
}

#[tokio::test]
async fn an_inbox_made_with_the_form_shows_a_delivery_and_its_verdict() {
    let app = queue_app().await;
    let s = setup(&app).await;
    let (mut admin, csrf) = admin(&app).await;

    let empty = admin.get("/ui/inspector").await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("No inboxes yet"));
    assert!(
        admin.get("/ui").await.body.contains(r#"href="/ui/inspector""#),
        "the navigation leads there"
    );
    let inbox_page = new_inbox(&mut admin, &csrf, "first try").await;
    let listed = admin.get("/ui/inspector").await.body;
    assert!(listed.contains("first try") && listed.contains(&inbox_page));
    let page = admin.get(&inbox_page).await.body;
    let url = input(&page, "inbox-url");
    assert!(url.starts_with(&format!("{}/in/", app.base_url)), "{url}");
    assert!(listed.contains(&url), "the list shows the URL to copy");
    assert!(page.contains("Nothing has arrived yet"));

    // An endpoint on the inbox's URL, and a test event sent to it.
    let ep_page = admin
        .post(
            &format!("{}/endpoints", s.app_path),
            &[("csrf", &csrf), ("url", &url), ("description", "to the inbox")],
        )
        .await
        .location;
    let ep = endpoint_id(&ep_page);
    let sent = admin
        .post(
            &format!("{ep_page}/test"),
            &[("csrf", &csrf), ("event_type", "user.created")],
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let msg = sent.location.rsplit('/').next().unwrap().to_owned();
    assert_eq!(app.run_pending_deliveries().await, 1);

    let page = admin.get(&inbox_page).await.body;
    assert!(page.contains("<code>POST</code>") && page.contains("application/json"));
    assert!(page.contains(&ep), "the endpoint that delivers here is named");
    let request = link(&page, "/request/inrq_");
    let shown = admin.get(&request).await;
    assert_eq!(shown.status, 200);
    assert!(
        shown.body.contains(&format!("Valid: signed {msg} ")),
        "checked against the endpoint that delivers here: {}",
        shown.body
    );
    assert!(shown.body.contains("s before it arrived"));
    assert!(shown.body.contains("webhook-signature") && shown.body.contains("user.created"));
    assert!(shown.body.contains("&#34;test&#34;: true"), "the JSON laid out");

    // The endpoint's key pasted in: valid; another key: invalid, saying why.
    let secret = s.api.get(&format!("/api/v1/app/acme/endpoint/{ep}/secret")).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let pasted = admin
        .post(
            &format!("{request}/verify"),
            &[("csrf", &csrf), ("secret", &secret)],
        )
        .await;
    assert!(
        pasted.body.contains(&format!("Valid: signed {msg} ")),
        "{}",
        pasted.body
    );
    assert!(pasted.body.contains("the pasted key"));
    let other = SigningSecret::generate().unwrap().to_whsec();
    let wrong = admin
        .post(
            &format!("{request}/verify"),
            &[("csrf", &csrf), ("secret", &other)],
        )
        .await;
    assert_eq!(wrong.status, 200);
    assert!(
        wrong.body.contains("Invalid: no signature matches"),
        "{}",
        wrong.body
    );
    assert!(!wrong.body.contains("Valid: signed"));
    let other_ep = s
        .api
        .endpoint_id("acme", json!({"url": "https://example.com/never-sent"}))
        .await;
    let against_other = admin.get(&format!("{request}?endpoint={other_ep}")).await;
    assert!(against_other.body.contains("Invalid: no signature matches"));
    assert!(
        against_other
            .body
            .contains(&format!("the keys of endpoint {other_ep}"))
    );
    // Not a key, no key, no such endpoint: the reason beside the field.
    let not_a_key = admin
        .post(
            &format!("{request}/verify"),
            &[("csrf", &csrf), ("secret", "whsec_nope")],
        )
        .await;
    assert_eq!(not_a_key.status, 422);
    assert!(not_a_key.body.contains("Key: is not a signing secret"));
    let no_key = admin
        .post(&format!("{request}/verify"), &[("csrf", &csrf), ("secret", " ")])
        .await;
    assert_eq!(no_key.status, 422);
    let nowhere = admin
        .get(&format!("{request}?endpoint=ep_2x4bkqR1yvnq0c4wRNNZbXgNsn9"))
        .await;
    assert_eq!(nowhere.status, 422);
    assert!(nowhere.body.contains("Key: there is no such endpoint"));
    let forged = admin
        .post(&format!("{request}/verify"), &[("csrf", ""), ("secret", &secret)])
        .await;
    assert_eq!(forged.status, 403, "the key form carries the session's token");

    // A copy with its body changed, and one signed an hour before it arrived.
    let delivered = s
        .api
        .get(&format!(
            "/api/v1/inspector/{}/request",
            inbox_page.rsplit('/').next().unwrap()
        ))
        .await["data"][0]
        .clone();
    let header = |name: &str| {
        delivered["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .unwrap()["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let tampered = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("webhook-id", header("webhook-id"))
        .header("webhook-timestamp", header("webhook-timestamp"))
        .header("webhook-signature", header("webhook-signature"))
        .body(r#"{"type":"user.created","test":false}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 200);
    let key = SigningSecret::parse(&secret).unwrap();
    let old = chrono::Utc::now().timestamp() - 3600;
    let stale = app
        .http
        .put(format!("{url}/stale?x=1"))
        .header("webhook-id", "msg_stale")
        .header("webhook-timestamp", old.to_string())
        .header("webhook-signature", key.sign("msg_stale", old, b"{}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    let page = admin.get(&inbox_page).await.body;
    let newest = link(&page, "/request/inrq_");
    let stale_page = admin.get(&newest).await.body;
    assert!(stale_page.contains("<code>PUT /stale?x=1</code>"), "{stale_page}");
    assert!(
        stale_page.contains("Invalid: the signature matches, but the timestamp is 3600 s old")
            || stale_page.contains("Invalid: the signature matches, but the timestamp is 3601 s old"),
        "{stale_page}"
    );
    let second = page[page.find(&newest).unwrap() + newest.len()..].to_owned();
    let tampered_page = admin.get(&link(&second, "/request/inrq_")).await.body;
    assert!(
        tampered_page.contains("Invalid: no signature matches"),
        "{tampered_page}"
    );
    assert!(tampered_page.contains("&#34;test&#34;: false"));

    // "Copy as file": what `herald verify` reads, and it verifies.
    let capture = download(&app, &admin, &format!("{request}/capture")).await;
    assert_eq!(capture.status(), 200);
    assert!(
        capture.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        capture.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let raw = capture.bytes().await.unwrap();
    let text = std::str::from_utf8(&raw).unwrap();
    assert!(text.starts_with("POST / HTTP/1.1\r\n"), "{text}");
    assert!(!text.contains(url.rsplit('/').next().unwrap()), "no token in it");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let headers: Vec<(&str, &str)> = head
        .lines()
        .skip(1)
        .map(|l| l.split_once(": ").unwrap())
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let verified = signing::verify(
        &key,
        find,
        body.as_bytes(),
        chrono::Utc::now(),
        signing::DEFAULT_TOLERANCE,
    )
    .expect("the capture verifies");
    assert_eq!(verified.msg_id, msg);
    // And `herald verify` reads it as it is: valid with the key, not with another.
    let file = app.db.dir().join("capture.txt");
    std::fs::write(&file, &raw).unwrap();
    let herald_verify = |key: &str| {
        herald::cli::Cli::try_parse_from(["herald", "verify", "--secret", key, file.to_str().unwrap()])
            .unwrap()
    };
    herald::cli::run(herald_verify(&secret))
        .await
        .expect("herald verify finds the capture valid");
    let refused = herald::cli::run(herald_verify(&other)).await.unwrap_err();
    assert!(
        format!("{refused:#}").contains("no signature matches"),
        "{refused:#}"
    );
}

/// A GET with `browser`'s cookies, answered with its headers and bytes (a [`Browser`]
/// keeps only the status, the location and the text).
async fn download(app: &TestApp, browser: &Browser<'_>, path: &str) -> reqwest::Response {
    let cookie = browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    app.http
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn bad_input_is_refused_beside_its_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let _s = setup(&app).await;
    let (mut admin, csrf) = admin(&app).await;
    let inbox_page = new_inbox(&mut admin, &csrf, "kept").await;
    let before = written(&app).await;
    for (fields, reason) in [
        (
            vec![("name", "x"), ("status", "99")],
            "Status must be between 200 and 599",
        ),
        (
            vec![("name", "x"), ("status", "abc")],
            "Status must be a status from 200 to 599",
        ),
        (
            vec![("name", "x"), ("expiry", "60")],
            "Expiry must be between 3600 and 2592000",
        ),
        (
            vec![("name", "x"), ("expiry", "2592001")],
            "Expiry must be between 3600 and 2592000",
        ),
        (vec![("name", "  ")], "Name must be 1 to 256 characters"),
        (
            vec![("name", "x"), ("delay", "30001")],
            "Delay must be at most 30000",
        ),
    ] {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields.iter().copied());
        let refused = admin.post("/ui/inspector", &form).await;
        assert_eq!(refused.status, 422, "{fields:?}");
        assert!(refused.body.contains(reason), "{fields:?}: {}", refused.body);
    }
    let kept = admin
        .post(
            "/ui/inspector",
            &[
                ("csrf", &csrf),
                ("name", "typed"),
                ("status", "99"),
                ("body", "as typed"),
            ],
        )
        .await;
    assert!(kept.body.contains(r#"value="typed""#) && kept.body.contains(">as typed</textarea>"));

    let answer = format!("{inbox_page}/answer");
    for (script, reason) in [
        ("500\nabc", "Script: line 2: `abc` is not a status"),
        ("500\n99", "Script: line 2: status must be between 200 and 599"),
        ("timeout 5", "Script: line 1: `timeout 5`"),
    ] {
        let refused = admin
            .post(&answer, &[("csrf", &csrf), ("status", "200"), ("script", script)])
            .await;
        assert_eq!(refused.status, 422, "{script}");
        assert!(refused.body.contains(reason), "{script}: {}", refused.body);
        assert!(refused.body.contains(&format!(">{script}</textarea>")), "kept");
    }
    let refused = admin
        .post(&answer, &[("csrf", &csrf), ("status", "600"), ("script", "500")])
        .await;
    assert!(refused.body.contains("Status must be between 200 and 599"));
    assert_eq!(written(&app).await, before, "nothing written");

    // Good input is taken, and shown as it was saved.
    let saved = admin
        .post(
            &answer,
            &[
                ("csrf", &csrf),
                ("status", "202"),
                ("body", "thanks"),
                ("delay", "250"),
                ("script", "500\r\n500\r\n200 100ms ok\r\ntimeout"),
            ],
        )
        .await;
    assert!(saved.redirects_to(&inbox_page), "{}", saved.body);
    let page = admin.get(&inbox_page).await.body;
    assert!(
        page.contains(">500\n500\n200 100ms ok\ntimeout</textarea>"),
        "{page}"
    );
    assert!(page.contains(r#"value="202""#) && page.contains(r#"value="250""#));
    assert!(page.contains("0 of 4 steps answered"));
    let blank = admin
        .post(&answer, &[("csrf", &csrf), ("status", "200"), ("script", "")])
        .await;
    assert_eq!(blank.status, 303);
    assert!(
        !admin.get(&inbox_page).await.body.contains("steps answered"),
        "removed"
    );

    // Deleting asks first (with JavaScript) and takes the inbox away.
    let list = admin.get("/ui/inspector").await.body;
    assert!(list.contains(&format!(r#"action="{inbox_page}/delete" data-confirm="#)));
    let deleted = admin
        .post(&format!("{inbox_page}/delete"), &[("csrf", &csrf)])
        .await;
    assert!(deleted.redirects_to("/ui/inspector"));
    assert_eq!(admin.get(&inbox_page).await.status, 404);
    assert!(inboxes(&app).await.is_empty());
}

#[tokio::test]
async fn other_tenants_find_nothing_and_viewers_only_look() {
    let app = queue_app().await;
    let s = setup(&app).await;
    let (mut admin, csrf) = admin(&app).await;
    let inbox_page = new_inbox(&mut admin, &csrf, "a's inbox").await;
    let url = input(&admin.get(&inbox_page).await.body, "inbox-url");
    app.http.post(&url).body("hello").send().await.unwrap();
    let request = link(&admin.get(&inbox_page).await.body, "/request/inrq_");
    assert!(admin.get(&request).await.body.contains("hello"));
    let mut stranger = Browser::new(&app);
    assert!(
        stranger
            .sign_in("admin@b.test", PASSWORD)
            .await
            .redirects_to("/ui")
    );
    let theirs = stranger.csrf("/ui").await;
    let mut viewer = Browser::new(&app);
    viewer.sign_in("viewer@a.test", PASSWORD).await;
    let mine = viewer.csrf("/ui").await;
    // (Signing in is on the audit record.)
    let before = written(&app).await;

    assert!(!stranger.get("/ui/inspector").await.body.contains("a's inbox"));
    for page in [
        inbox_page.clone(),
        request.clone(),
        format!("{request}/capture"),
        format!("{request}?endpoint=ep_2x4bkqR1yvnq0c4wRNNZbXgNsn9"),
    ] {
        assert_eq!(stranger.get(&page).await.status, 404, "{page}");
    }
    for (path, fields) in [
        (
            format!("{inbox_page}/answer"),
            vec![("csrf", theirs.as_str()), ("status", "500")],
        ),
        (format!("{inbox_page}/delete"), vec![("csrf", theirs.as_str())]),
        (
            format!("{request}/verify"),
            vec![
                ("csrf", theirs.as_str()),
                ("secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            ],
        ),
    ] {
        assert_eq!(stranger.post(&path, &fields).await.status, 404, "{path}");
    }

    // A viewer sees the inbox and checks a signature, and changes nothing.
    let page = viewer.get(&inbox_page).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("/answer") && !page.body.contains("Create an inbox"));
    let checked = viewer
        .post(
            &format!("{request}/verify"),
            &[
                ("csrf", &mine),
                ("secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            ],
        )
        .await;
    assert!(
        checked
            .body
            .contains("Invalid: no `webhook-id` or `webhook-timestamp` or `webhook-signature` header"),
        "{}",
        checked.body
    );
    for (path, fields) in [
        (
            "/ui/inspector".to_owned(),
            vec![("csrf", mine.as_str()), ("name", "v")],
        ),
        (
            format!("{inbox_page}/answer"),
            vec![("csrf", mine.as_str()), ("status", "500")],
        ),
        (format!("{inbox_page}/delete"), vec![("csrf", mine.as_str())]),
        (
            format!("{}/inbox-trial", s.app_path),
            vec![("csrf", mine.as_str())],
        ),
    ] {
        assert_eq!(viewer.post(&path, &fields).await.status, 403, "{path}");
    }
    assert_eq!(written(&app).await, before);
}

#[tokio::test]
async fn a_test_event_to_a_new_inbox_makes_the_inbox_and_its_endpoint_and_arrives() {
    let app = queue_app().await;
    let s = setup(&app).await;
    let (mut admin, csrf) = admin(&app).await;
    let original = s
        .api
        .endpoint_id(
            "acme",
            json!({
                "url": "https://example.com/hook",
                "description": "billing",
                "filterTypes": ["user.created"],
                "channels": ["eu"],
                // Nothing goes there: the tests deliver to loopback only.
                "disabled": true,
            }),
        )
        .await;
    let ep_page = format!("{}/endpoints/{original}", s.app_path);
    let page = admin.get(&ep_page).await.body;
    assert!(page.contains(r#"name="to" value="inbox""#), "the second button");

    // Bad input first: nothing is written.
    let before = written(&app).await;
    let refused = admin
        .post(
            &format!("{ep_page}/test"),
            &[("csrf", &csrf), ("event_type", "not a type!"), ("to", "inbox")],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(written(&app).await, before);

    let tried = admin
        .post(
            &format!("{ep_page}/test"),
            &[("csrf", &csrf), ("event_type", "user.created"), ("to", "inbox")],
        )
        .await;
    assert_eq!(tried.status, 303, "{}", tried.body);
    assert!(
        tried.location.starts_with("/ui/inspector/inbx_"),
        "{}",
        tried.location
    );
    let (inbox_page, made) = tried.location.split_once("?tried=").unwrap();
    let made = made.to_owned();
    let page = admin.get(&tried.location).await.body;
    assert!(page.contains("now delivers to this inbox"), "{page}");
    assert!(page.contains(&format!(r#"href="{}/endpoints/{made}""#, s.app_path)));
    let url = input(&page, "inbox-url");
    let endpoint = s.api.get(&format!("/api/v1/app/acme/endpoint/{made}")).await;
    assert_eq!(endpoint["url"], url.as_str());
    assert_eq!(endpoint["eventTypes"], json!(["user.created"]));
    assert_eq!(endpoint["channels"], json!(["eu"]));
    assert_eq!(endpoint["disabled"], false);
    assert!(
        endpoint["description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Inspector inbox for {original}")),
        "{endpoint}"
    );
    assert!(page.contains("Test of billing"), "named after the endpoint");

    assert_eq!(app.run_pending_deliveries().await, 1);
    let page = admin.get(inbox_page).await.body;
    let request = link(&page, "/request/inrq_");
    let shown = admin.get(&request).await.body;
    assert!(shown.contains("Valid: signed msg_"), "{shown}");
    assert!(shown.contains(&format!("the keys of endpoint {made}")));
    assert!(shown.contains("user.created"));

    // An event type archived since the endpoint subscribed: refused before anything
    // is made.
    let archived = s
        .api
        .endpoint_id(
            "acme",
            json!({"url": "https://example.com/other", "filterTypes": ["user.deleted"], "disabled": true}),
        )
        .await;
    s.api
        .call(reqwest::Method::DELETE, "/api/v1/event-type/user.deleted", None)
        .await;
    let before = written(&app).await;
    let refused = admin
        .post(
            &format!("{}/endpoints/{archived}/test", s.app_path),
            &[("csrf", &csrf), ("event_type", "user.created"), ("to", "inbox")],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("Event types: event type `user.deleted` does not exist (or is archived)"),
        "{}",
        refused.body
    );
    assert_eq!(written(&app).await, before);
}

#[tokio::test]
async fn an_application_without_a_receiver_gets_an_endpoint_on_a_new_inbox() {
    let app = queue_app().await;
    let s = setup(&app).await;
    let (mut admin, csrf) = admin(&app).await;
    let page = admin.get(&s.app_path).await.body;
    assert!(page.contains(&format!(r#"action="{}/inbox-trial""#, s.app_path)));
    let tried = admin
        .post(&format!("{}/inbox-trial", s.app_path), &[("csrf", &csrf)])
        .await;
    assert_eq!(tried.status, 303, "{}", tried.body);
    let made = tried.location.split_once("?tried=").unwrap().1.to_owned();
    let endpoint = s.api.get(&format!("/api/v1/app/acme/endpoint/{made}")).await;
    assert!(endpoint["eventTypes"].is_null(), "every event type: {endpoint}");
    assert!(endpoint["url"].as_str().unwrap().contains("/in/"));
    assert_eq!(app.run_pending_deliveries().await, 1);
    let page = admin.get(&tried.location).await.body;
    let shown = admin.get(&link(&page, "/request/inrq_")).await.body;
    assert!(shown.contains("Valid: signed msg_"), "{shown}");
    assert!(shown.contains("herald.test"));
    assert_eq!(inboxes(&app).await.len(), 1);
}

#[tokio::test]
async fn the_portal_cannot_make_inboxes() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let ep = s
        .api
        .endpoint_id("acme", json!({"url": "https://example.com/hook"}))
        .await;
    let access = s.api.post("/api/v1/auth/app-portal-access/acme", json!({})).await;
    let url = access["url"].as_str().unwrap();
    let mut customer = Browser::new(&app);
    customer.get(&url[url.find("/portal").unwrap()..]).await;
    let home = customer.get("/portal").await;
    assert_eq!(home.status, 200);
    assert!(!home.body.contains("inbox-trial") && !home.body.contains("Inspector"));
    let ep_page = customer.get(&format!("/portal/app/endpoints/{ep}")).await;
    assert_eq!(ep_page.status, 200);
    assert!(ep_page.body.contains("Send test event"));
    assert!(!ep_page.body.contains(r#"value="inbox""#), "no inbox option");
    let csrf = customer.csrf("/portal").await;
    let before = written(&app).await;
    let to_inbox = customer
        .post(
            &format!("/portal/app/endpoints/{ep}/test"),
            &[("csrf", &csrf), ("event_type", "herald.test"), ("to", "inbox")],
        )
        .await;
    assert_eq!(to_inbox.status, 404);
    let trial = customer.post("/portal/app/inbox-trial", &[("csrf", &csrf)]).await;
    assert_eq!(trial.status, 404);
    assert!(customer.get("/ui/inspector").await.redirects_to("/ui/login"));
    assert_eq!(written(&app).await, before);
}

#[tokio::test]
async fn requests_are_listed_newest_first_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let _s = setup(&app).await;
    let (mut admin, csrf) = admin(&app).await;
    let inbox_page = new_inbox(&mut admin, &csrf, "busy").await;
    let url = input(&admin.get(&inbox_page).await.body, "inbox-url");
    for n in 0..26 {
        // The inbox records 10 a second: a refused one is sent again.
        let recorded = tests::eventually(std::time::Duration::from_secs(20), async || {
            let sent = app
                .http
                .post(format!("{url}/r{n}"))
                .body("x")
                .send()
                .await
                .unwrap();
            (sent.status() == 200).then_some(())
        })
        .await;
        assert!(recorded.is_some(), "request {n} was never recorded");
    }
    let first = admin.get(&inbox_page).await.body;
    assert_eq!(first.matches("/request/inrq_").count(), 25);
    assert!(first.find("/r25</code>").unwrap() < first.find("/r24</code>").unwrap());
    assert!(!first.contains("/r0</code>"));
    assert!(!first.contains("← Newer"), "nothing is newer than the first page");
    assert!(
        first.contains("data-refresh"),
        "the first page keeps itself fresh"
    );
    let older = link(&first, "?iterator=");
    let second = admin.get(&older).await.body;
    assert_eq!(second.matches("/request/inrq_").count(), 1);
    assert!(second.contains("/r0</code>") && second.contains("← Newer"));
    assert!(!second.contains("data-refresh"));
}
