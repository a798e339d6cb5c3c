//! Signing in and sessions: throttled sign-in that never says which accounts exist,
//! cookie attributes, expiry, and changing one's own password.

use domain::{service, values::Role};
use tests::TestApp;

use super::{Answer, Browser, PASSWORD, user};

#[tokio::test]
async fn sign_in_checks_passwords_throttles_and_never_says_which_accounts_exist() {
    let app = TestApp::spawn().await;
    let (a, _) = app.tenant("A").await;
    user(&app, &a, "admin@a.test", Role::Admin).await;
    let mut browser = Browser::new(&app);

    let wrong = browser.sign_in("admin@a.test", "not the password").await;
    let unknown = browser.sign_in("nobody@a.test", PASSWORD).await;
    for answer in [&wrong, &unknown] {
        assert_eq!(answer.status, 401);
        assert!(answer.body.contains("Wrong email or password"));
    }
    assert!(
        wrong.body.contains(r#"value="admin@a.test""#),
        "the email is kept"
    );

    // A form without the sign-in page's token is refused.
    let forged = browser
        .post(
            "/ui/login",
            &[
                ("email", "admin@a.test"),
                ("password", PASSWORD),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(!browser.cookies.contains_key("herald_session"));

    let signed = browser.sign_in("admin@a.test", PASSWORD).await;
    assert!(signed.redirects_to("/ui"), "{}", signed.status);
    assert_eq!(browser.get("/ui").await.status, 200);

    // Five tries a minute per account: the sixth is refused before the password counts.
    let mut other = Browser::new(&app);
    for _ in 0..3 {
        assert_eq!(other.sign_in("admin@a.test", "guess").await.status, 401);
    }
    let throttled = other.sign_in("admin@a.test", PASSWORD).await;
    assert_eq!(throttled.status, 429);
    assert!(throttled.body.contains("Too many sign-in attempts"));

    // Signing out ends the session on the server: the old cookie no longer works.
    let cookie = browser.cookies["herald_session"].clone();
    let csrf = browser.csrf("/ui").await;
    assert!(
        browser
            .post("/ui/logout", &[("csrf", &csrf)])
            .await
            .redirects_to("/ui/login")
    );
    browser.cookies.insert("herald_session".into(), cookie);
    assert!(browser.get("/ui").await.redirects_to("/ui/login"));
}

#[tokio::test]
async fn session_cookies_are_http_only_and_same_site() {
    let app = TestApp::spawn().await;
    let (a, _) = app.tenant("A").await;
    user(&app, &a, "admin@a.test", Role::Admin).await;
    let page = app.http.get(app.url("/ui/login")).send().await.unwrap();
    let login_cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    let body = page.text().await.unwrap();
    let csrf = Answer {
        status: 200,
        location: String::new(),
        body,
    }
    .csrf();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("email", "admin@a.test"), ("password", PASSWORD), ("csrf", &csrf)])
        .finish();
    let res = app
        .http
        .post(app.url("/ui/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", login_cookie.split(';').next().unwrap())
        .body(form)
        .send()
        .await
        .unwrap();
    let session = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("herald_session="))
        .expect("a session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(!session.contains("Secure"), "plain http here: {session}");
}

#[tokio::test]
async fn sessions_expire_after_twelve_hours_and_are_purged() {
    let app = TestApp::spawn().await;
    let (a, _) = app.tenant("A").await;
    user(&app, &a, "admin@a.test", Role::Admin).await;
    let mut people = service::session::authenticate(&app.ctx.db, "ADMIN@a.test", PASSWORD)
        .await
        .expect("emails match in any case");
    assert_eq!(people.len(), 1);
    let person = people.remove(0);
    let (token, _) = service::session::start_for_user(&app.ctx, &person).await.unwrap();
    let now = chrono::Utc::now();
    let find = async |at| {
        service::session::find(&app.ctx, &token, at)
            .await
            .unwrap()
            .is_some()
    };
    assert!(find(now + chrono::Duration::hours(11)).await);
    assert_eq!(
        service::session::purge_expired(&app.ctx, now + chrono::Duration::hours(11))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        service::session::purge_expired(&app.ctx, now + chrono::Duration::hours(13))
            .await
            .unwrap(),
        1
    );
    assert!(!find(now).await, "gone once purged");
    // A cookie that names no session signs nobody in.
    let mut browser = Browser::new(&app);
    browser.cookies.insert("herald_session".into(), token);
    assert!(browser.get("/ui").await.redirects_to("/ui/login"));
}

#[tokio::test]
async fn cookies_are_secure_when_herald_is_reached_over_https() {
    let app = TestApp::spawn_with(|s| s.public_url = Some("https://herald.example.com".into())).await;
    let res = app.http.get(app.url("/ui/login")).send().await.unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn anyone_may_change_their_own_password_and_other_sessions_end() {
    let app = TestApp::spawn().await;
    let (a, _) = app.tenant("A").await;
    user(&app, &a, "viewer@a.test", Role::Viewer).await;
    let mut here = Browser::new(&app);
    let mut elsewhere = Browser::new(&app);
    here.sign_in("viewer@a.test", PASSWORD).await;
    elsewhere.sign_in("viewer@a.test", PASSWORD).await;
    let csrf = here.csrf("/ui/team").await;

    let wrong = here
        .post(
            "/ui/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", "nope"),
                ("password", "a brand new one"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong
            .body
            .contains("Current password is not your current password")
    );
    let short = here
        .post(
            "/ui/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(
        short.body.contains(r#"id="own-password-error""#),
        "beside its own field"
    );

    let changed = here
        .post(
            "/ui/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("password", "a brand new one"),
            ],
        )
        .await;
    assert!(
        changed.redirects_to("/ui/team?password=changed"),
        "{}",
        changed.status
    );
    assert!(
        here.get(&changed.location)
            .await
            .body
            .contains("Your password was changed")
    );
    assert!(
        elsewhere.get("/ui").await.redirects_to("/ui/login"),
        "the other session ended"
    );
    let mut fresh = Browser::new(&app);
    assert_eq!(fresh.sign_in("viewer@a.test", PASSWORD).await.status, 401);
    assert!(
        fresh
            .sign_in("viewer@a.test", "a brand new one")
            .await
            .redirects_to("/ui")
    );
}
