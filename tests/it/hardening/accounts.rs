//! Accounts: one email in several tenants without giving any away, one password that
//! opens two tenants, and two admins removing each other at once.

use domain::service;
use sea_orm::EntityTrait;
use tests::TestApp;

use crate::dashboard::{Browser, world};

/// The salt of a stored argon2 PHC string (`$argon2id$v=19$m=…$SALT$HASH`).
fn salt_of(phc: &str) -> &str {
    phc.split('$').nth(4).unwrap_or_default()
}

#[tokio::test]
async fn an_email_may_have_an_account_in_each_tenant_and_adding_one_reveals_no_other() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    // Someone with an account in tenant A.
    let shared = "person@shared.test";
    crate::dashboard::user(&app, &w.tenant_a, shared, domain::values::Role::Viewer).await;

    // B's admin adds the same address, and a fresh one: the answers are alike.
    let mut admin_b = Browser::new(&app);
    assert!(
        admin_b
            .sign_in("admin@b.test", crate::dashboard::PASSWORD)
            .await
            .redirects_to("/ui")
    );
    let csrf = admin_b.csrf("/ui/team").await;
    let mut answers = Vec::new();
    for email in [shared, "fresh@shared.test"] {
        let added = admin_b
            .post(
                "/ui/team",
                &[
                    ("csrf", &csrf),
                    ("email", email),
                    ("role", "viewer"),
                    ("password", "B's own password"),
                ],
            )
            .await;
        answers.push((added.status, added.location, added.body));
    }
    assert_eq!(
        answers[0], answers[1],
        "adding an address known elsewhere answers as any other"
    );
    assert!(answers[0].1.ends_with("/ui/team"), "{:?}", answers[0]);
    let team = admin_b.get("/ui/team").await.body;
    assert!(team.contains(shared) && team.contains("fresh@shared.test"));
    // Twice in the same tenant is still refused, with the reason.
    let again = admin_b
        .post(
            "/ui/team",
            &[
                ("csrf", &csrf),
                ("email", shared),
                ("role", "viewer"),
                ("password", "B's own password"),
            ],
        )
        .await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert!(
        again.body.contains("already exists in this tenant"),
        "{}",
        again.body
    );

    // The two accounts share a salt, so a sign-in checks both with one hash: its time
    // cannot tell whether the email has accounts elsewhere.
    #[expect(clippy::disallowed_methods, reason = "the test reads both tenants' accounts")]
    let accounts = domain::entity::user::Entity::find()
        .all(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.email == shared)
        .collect::<Vec<_>>();
    assert_eq!(accounts.len(), 2);
    assert_eq!(
        salt_of(&accounts[0].password_hash),
        salt_of(&accounts[1].password_hash)
    );
    assert_ne!(
        accounts[0].password_hash, accounts[1].password_hash,
        "different passwords"
    );
    assert!(!salt_of(&accounts[0].password_hash).is_empty());

    // Each password opens its own tenant.
    let team_of = async |password: &str| {
        let mut person = Browser::new(&app);
        let signed = person.sign_in(shared, password).await;
        assert!(signed.redirects_to("/ui"), "{} {}", signed.status, signed.body);
        person.get("/ui/team").await.body
    };
    let in_a = team_of(crate::dashboard::PASSWORD).await;
    assert!(in_a.contains("admin@a.test") && !in_a.contains("admin@b.test"));
    let in_b = team_of("B's own password").await;
    assert!(in_b.contains("admin@b.test") && !in_b.contains("admin@a.test"));
}

#[tokio::test]
async fn one_password_that_opens_two_tenants_lets_the_person_choose() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let shared = "person@shared.test";
    crate::dashboard::user(&app, &w.tenant_a, shared, domain::values::Role::Viewer).await;
    let b = app.tenant("Beta").await.0;
    crate::dashboard::user(&app, &b, shared, domain::values::Role::Admin).await;

    let mut person = Browser::new(&app);
    let offered = person.sign_in(shared, crate::dashboard::PASSWORD).await;
    assert_eq!(offered.status, 200, "{}", offered.body);
    assert!(
        offered.body.contains("has an account in several teams"),
        "{}",
        offered.body
    );
    // One form per tenant, named, each with its ticket.
    let tickets: Vec<&str> = offered
        .body
        .split(r#"name="ticket" value=""#)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert_eq!(tickets.len(), 2);
    let beta = offered.body.find(">Beta</button>").expect("Beta is offered");
    let a = offered.body.find(">A</button>").expect("A is offered");
    assert!(a < beta, "tenants in name order");
    let csrf = offered.csrf();

    // A ticket does not work with another form token, nor altered.
    let mut stranger = Browser::new(&app);
    let other_csrf = stranger.get("/ui/login").await.csrf();
    let stolen = stranger
        .post(
            "/ui/login/choose",
            &[("csrf", &other_csrf), ("ticket", tickets[1])],
        )
        .await;
    assert_eq!(stolen.status, 401, "{}", stolen.body);
    let mut altered = tickets[1].to_owned();
    altered.replace_range(10..11, if &altered[10..11] == "A" { "B" } else { "A" });
    let forged = person
        .post("/ui/login/choose", &[("csrf", &csrf), ("ticket", &altered)])
        .await;
    assert_eq!(forged.status, 401, "{}", forged.body);
    assert!(forged.body.contains("no longer valid"));

    // The second choice (Beta) signs in to Beta.
    let mut person = Browser::new(&app);
    let offered = person.sign_in(shared, crate::dashboard::PASSWORD).await;
    let csrf = offered.csrf();
    let beta_ticket = offered.body[..offered.body.find(">Beta</button>").unwrap()]
        .rsplit(r#"name="ticket" value=""#)
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let chosen = person
        .post("/ui/login/choose", &[("csrf", &csrf), ("ticket", &beta_ticket)])
        .await;
    assert!(chosen.redirects_to("/ui"), "{} {}", chosen.status, chosen.body);
    let team = person.get("/ui/team").await.body;
    assert!(team.contains(shared) && !team.contains("admin@a.test"), "{team}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_removing_each_other_at_once_leave_one() {
    use domain::{service::audit::Actor, values::Role};
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    crate::dashboard::user(&app, &w.tenant_a, "second@a.test", Role::Admin).await;
    let elsewhere = herald::startup::context(&app.settings, String::new())
        .await
        .unwrap();
    let admins = || async {
        service::user::list(&app.ctx.db, &w.tenant_a)
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.role == Role::Admin)
            .collect::<Vec<_>>()
    };
    for round in 0..20 {
        let both = admins().await;
        assert_eq!(both.len(), 2);
        // Two processes, as two dashboards behind a load balancer would be.
        let (tenant, first, second) = (w.tenant_a.clone(), both[0].id.clone(), both[1].id.clone());
        let (here, there) = (app.ctx.clone(), elsewhere.clone());
        let t = tenant.clone();
        let one = tokio::spawn(async move { service::user::remove(&here, &t, &first, &Actor::Cli).await });
        let other =
            tokio::spawn(async move { service::user::remove(&there, &tenant, &second, &Actor::Cli).await });
        let (one, other) = (one.await.unwrap(), other.await.unwrap());
        assert_eq!(one.is_ok() as u8 + other.is_ok() as u8, 1, "{one:?} {other:?}");
        let left = admins().await;
        assert_eq!(left.len(), 1, "the last admin stays");
        // Make a second admin again for the next round.
        let email = format!("again{round}@a.test");
        crate::dashboard::user(&app, &w.tenant_a, &email, Role::Admin).await;
    }
}
