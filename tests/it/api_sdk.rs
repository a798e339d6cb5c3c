//! The REST API driven by the official `svix` Rust SDK, pointed at Herald with nothing but
//! the server URL and the token changed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use domain::{entity::attempt, id::AttemptId, service::endpoint as endpoints, signing::SigningSecret};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;
use svix::{
    api::{
        ApplicationListOptions, EventTypeListOptions, MessageAttemptListByEndpointOptions,
        MessageListOptions, Svix, SvixOptions,
    },
    models::{
        AppPortalAccessIn, ApplicationIn, ApplicationPatch, EndpointHeadersIn, EndpointHeadersPatchIn,
        EndpointIn, EndpointPatch, EndpointSecretRotateIn, EndpointUpsertIn, EventTypeIn, EventTypePatch,
        MessageIn, MessageStatus,
    },
};
use tests::TestApp;

pub(crate) fn sdk(app: &TestApp, token: &str) -> Svix {
    Svix::new(
        token.to_owned(),
        Some(SvixOptions {
            server_url: Some(app.base_url.clone()),
            num_retries: Some(0),
            ..Default::default()
        }),
    )
}

pub(crate) fn status(error: svix::error::Error) -> u16 {
    match error {
        svix::error::Error::Http(e) => e.status.as_u16(),
        svix::error::Error::Validation(e) => e.status.as_u16(),
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

/// The application `acme` most tests start from.
async fn create_acme(svix: &Svix) {
    svix.application()
        .create(
            ApplicationIn {
                uid: Some("acme".into()),
                ..ApplicationIn::new("Acme".into())
            },
            None,
        )
        .await
        .unwrap();
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn applications_through_the_sdk() {
    let app = TestApp::spawn().await;
    let (_, token) = app.tenant("T").await;
    let svix = sdk(&app, &token);

    let created = svix
        .application()
        .create(
            ApplicationIn {
                uid: Some("acme".into()),
                throttle_rate: Some(10),
                ..ApplicationIn::new("Acme".into())
            },
            None,
        )
        .await
        .unwrap();
    assert!(created.id.starts_with("app_"));
    assert_eq!(created.uid.as_deref(), Some("acme"));
    assert_eq!(created.throttle_rate, Some(10));
    assert_eq!(
        svix.application().get("acme".into()).await.unwrap().id,
        created.id
    );
    assert_eq!(
        svix.application().get(created.id.clone()).await.unwrap().name,
        "Acme"
    );

    // get_or_create hands back the existing one; a plain create of the uid is a conflict.
    let again = svix
        .application()
        .get_or_create(
            ApplicationIn {
                uid: Some("acme".into()),
                ..ApplicationIn::new("Other".into())
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(again.id, created.id);
    let dup = svix
        .application()
        .create(
            ApplicationIn {
                uid: Some("acme".into()),
                ..ApplicationIn::new("X".into())
            },
            None,
        )
        .await;
    assert_eq!(status(dup.unwrap_err()), 409);

    let patched = svix
        .application()
        .patch(
            "acme".into(),
            ApplicationPatch {
                name: Some("Acme Inc".into()),
                throttle_rate: js_option::JsOption::Null,
                ..ApplicationPatch::new()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.name, "Acme Inc");
    assert_eq!(patched.throttle_rate, None);
    assert_eq!(
        patched.uid.as_deref(),
        Some("acme"),
        "absent fields stay as they were"
    );

    let upserted = svix
        .application()
        .upsert("beta".into(), ApplicationIn::new("Beta".into()))
        .await
        .unwrap();
    assert_eq!(upserted.uid.as_deref(), Some("beta"));
    let upserted_again = svix
        .application()
        .upsert("beta".into(), ApplicationIn::new("Beta 2".into()))
        .await
        .unwrap();
    assert_eq!(
        (upserted_again.id.as_str(), upserted_again.name.as_str()),
        (upserted.id.as_str(), "Beta 2")
    );

    // Pagination: 5 applications in pages of 2, forwards and back.
    for i in 0..3 {
        svix.application()
            .create(ApplicationIn::new(format!("App {i}")), None)
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut iterator = None;
    loop {
        let page = svix
            .application()
            .list(Some(ApplicationListOptions {
                limit: Some(2),
                iterator: iterator.clone(),
                ..Default::default()
            }))
            .await
            .unwrap();
        assert!(page.data.len() <= 2);
        seen.extend(page.data.iter().map(|a| a.id.clone()));
        if page.done {
            break;
        }
        iterator = page.iterator;
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "oldest first by default");
    let second = svix
        .application()
        .list(Some(ApplicationListOptions {
            limit: Some(2),
            iterator: Some(seen[1].clone()),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(
        second.data.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        seen[2..4].to_vec()
    );
    let back = svix
        .application()
        .list(Some(ApplicationListOptions {
            limit: Some(2),
            iterator: second.prev_iterator.clone(),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(
        back.data.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        seen[0..2].to_vec()
    );
    assert!(back.done, "back at the start: done, as Svix says");
    assert_eq!(
        back.iterator.as_deref(),
        Some(seen[1].as_str()),
        "and the way forward stays"
    );
    // One step back from the third page is not the start.
    let third = svix
        .application()
        .list(Some(ApplicationListOptions {
            limit: Some(1),
            iterator: Some(format!("-{}", seen[3])),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(third.data[0].id, seen[2]);
    assert!(!third.done);

    svix.application().delete("beta".into()).await.unwrap();
    assert_eq!(
        status(svix.application().get("beta".into()).await.unwrap_err()),
        404
    );
}

#[tokio::test]
async fn event_types_endpoints_and_secrets_through_the_sdk() {
    let app = TestApp::spawn().await;
    let (tenant, token) = app.tenant("T").await;
    let svix = sdk(&app, &token);
    svix.application()
        .create(
            ApplicationIn {
                uid: Some("acme".into()),
                ..ApplicationIn::new("Acme".into())
            },
            None,
        )
        .await
        .unwrap();

    let schema = json!({"1": {"type": "object", "properties": {"id": {"type": "string"}}}});
    let et = svix
        .event_type()
        .create(
            EventTypeIn {
                schemas: Some(schema.clone()),
                ..EventTypeIn::new("invoice.paid".into(), "An invoice was paid".into())
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(et.schemas, Some(schema));
    svix.event_type()
        .create(EventTypeIn::new("invoice.failed".into(), "Failed".into()), None)
        .await
        .unwrap();
    assert_eq!(
        status(
            svix.event_type()
                .create(EventTypeIn::new("invoice.paid".into(), "x".into()), None)
                .await
                .unwrap_err()
        ),
        409
    );
    let patched = svix
        .event_type()
        .patch(
            "invoice.failed".into(),
            EventTypePatch {
                description: Some("Payment failed".into()),
                ..EventTypePatch::new()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.description, "Payment failed");

    // Archive hides it from the list unless asked; expunge removes it.
    svix.event_type()
        .delete("invoice.failed".into(), None)
        .await
        .unwrap();
    let live = svix.event_type().list(None).await.unwrap();
    assert_eq!(
        live.data.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        vec!["invoice.paid"]
    );
    let all = svix
        .event_type()
        .list(Some(EventTypeListOptions {
            include_archived: Some(true),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(all.data.len(), 2);
    assert_eq!(all.data[0].archived, Some(true));

    let secret = SigningSecret::generate().unwrap().to_whsec();
    let ep = svix
        .endpoint()
        .create(
            "acme".into(),
            EndpointIn {
                uid: Some("main".into()),
                event_types: Some(set(&["invoice.paid"])),
                channels: Some(set(&["eu"])),
                secret: Some(secret.clone()),
                headers: Some(BTreeMap::from([("X-Team".to_string(), "billing".to_string())])),
                ..EndpointIn::new("https://example.com/hooks".into())
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(ep.event_types, Some(set(&["invoice.paid"])));
    assert_eq!(ep.channels, Some(set(&["eu"])));
    assert_eq!(
        svix.endpoint()
            .get("acme".into(), "main".into())
            .await
            .unwrap()
            .id,
        ep.id
    );

    // An unknown (or archived) event type in the filter is refused with its position.
    let unknown = svix
        .endpoint()
        .create(
            "acme".into(),
            EndpointIn {
                event_types: Some(set(&["invoice.failed"])),
                ..EndpointIn::new("https://example.com/x".into())
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(status(unknown), 422);

    // Secrets: the caller's key is kept, sealed; rotation answers with the new key.
    assert_eq!(
        svix.endpoint()
            .get_secret("acme".into(), ep.id.clone())
            .await
            .unwrap()
            .key,
        secret
    );
    let rotated = svix
        .endpoint()
        .rotate_secret("acme".into(), ep.id.clone(), EndpointSecretRotateIn::new(), None)
        .await
        .unwrap();
    assert_ne!(rotated.key, secret);
    assert!(rotated.key.starts_with("whsec_"));
    assert_eq!(
        svix.endpoint()
            .get_secret("acme".into(), "main".into())
            .await
            .unwrap()
            .key,
        rotated.key
    );
    let model = endpoints::find_in_app(&app.ctx.db, &tenant, "acme", "main")
        .await
        .unwrap();
    let live =
        domain::service::endpoint_secret::live_keys(&app.ctx, &app.ctx.db, &tenant, &model.id, Utc::now())
            .await
            .unwrap();
    let live: Vec<String> = live.iter().map(SigningSecret::to_whsec).collect();
    assert_eq!(
        live,
        vec![rotated.key.clone(), secret.clone()],
        "the old key signs alongside during the grace period"
    );
    let own = SigningSecret::generate().unwrap().to_whsec();
    let rotated = svix
        .endpoint()
        .rotate_secret(
            "acme".into(),
            "main".into(),
            EndpointSecretRotateIn {
                key: Some(own.clone()),
                ..EndpointSecretRotateIn::new()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(rotated.key, own);

    // Headers: replace, merge, delete; sensitive values are not shown back.
    assert_eq!(
        svix.endpoint()
            .get_headers("acme".into(), "main".into())
            .await
            .unwrap()
            .headers
            .get("X-Team")
            .map(String::as_str),
        Some("billing")
    );
    svix.endpoint()
        .set_headers(
            "acme".into(),
            "main".into(),
            EndpointHeadersIn::new(BTreeMap::from([
                ("Authorization".to_string(), "Bearer s3cret".to_string()),
                ("X-Env".to_string(), "prod".to_string()),
            ])),
        )
        .await
        .unwrap();
    svix.endpoint()
        .patch_headers(
            "acme".into(),
            "main".into(),
            EndpointHeadersPatchIn {
                delete_headers: Some(vec!["X-Env".into()]),
                ..EndpointHeadersPatchIn::new(BTreeMap::from([("X-Region".to_string(), "eu".to_string())]))
            },
        )
        .await
        .unwrap();
    let headers = svix
        .endpoint()
        .get_headers("acme".into(), "main".into())
        .await
        .unwrap();
    assert_eq!(
        headers.headers,
        BTreeMap::from([("X-Region".to_string(), "eu".to_string())])
    );
    assert_eq!(headers.sensitive, set(&["Authorization"]));
    let reserved = svix
        .endpoint()
        .set_headers(
            "acme".into(),
            "main".into(),
            EndpointHeadersIn::new(BTreeMap::from([("webhook-id".to_string(), "x".to_string())])),
        )
        .await
        .unwrap_err();
    assert_eq!(status(reserved), 422);

    // PATCH and PUT.
    let patched = svix
        .endpoint()
        .patch(
            "acme".into(),
            "main".into(),
            EndpointPatch {
                channels: js_option::JsOption::Null,
                disabled: Some(true),
                ..EndpointPatch::new()
            },
        )
        .await
        .unwrap();
    assert_eq!((patched.channels, patched.disabled), (None, Some(true)));
    assert_eq!(patched.event_types, Some(set(&["invoice.paid"])));
    let put = svix
        .endpoint()
        .upsert(
            "acme".into(),
            "second".into(),
            EndpointUpsertIn::new("https://example.com/2".into()),
        )
        .await
        .unwrap();
    assert_eq!(put.uid.as_deref(), Some("second"));
    let listed = svix.endpoint().list("acme".into(), None).await.unwrap();
    assert_eq!(listed.data.len(), 2);

    let stats = svix
        .endpoint()
        .get_stats("acme".into(), "main".into(), None)
        .await
        .unwrap();
    assert_eq!((stats.success, stats.pending, stats.fail), (0, 0, 0));

    svix.endpoint()
        .delete("acme".into(), "second".into())
        .await
        .unwrap();
    assert_eq!(
        status(
            svix.endpoint()
                .get("acme".into(), "second".into())
                .await
                .unwrap_err()
        ),
        404
    );
}

#[tokio::test]
async fn messages_attempts_and_portal_through_the_sdk() {
    let app = TestApp::spawn().await;
    let (tenant, token) = app.tenant("T").await;
    let svix = sdk(&app, &token);
    svix.event_type()
        .create(EventTypeIn::new("user.created".into(), "".into()), None)
        .await
        .unwrap();
    svix.event_type()
        .create(EventTypeIn::new("user.deleted".into(), "".into()), None)
        .await
        .unwrap();

    // The inline application is created on first use.
    let msg = svix
        .message()
        .create(
            "cust-1".into(),
            MessageIn {
                event_id: Some("evt-1".into()),
                channels: Some(set(&["eu"])),
                application: Some(ApplicationIn::new("Customer 1".into())),
                ..MessageIn::new("user.created".into(), json!({"id": 1, "name": "Ada"}))
            },
            None,
        )
        .await
        .unwrap();
    assert!(msg.id.starts_with("msg_"));
    // The SDK asks for no content back by default.
    assert_eq!(msg.payload, json!({}));
    let got = svix
        .message()
        .get(
            "cust-1".into(),
            msg.id.clone(),
            Some(svix::api::MessageGetOptions {
                with_content: Some(true),
            }),
        )
        .await
        .unwrap();
    assert_eq!(got.payload, json!({"id": 1, "name": "Ada"}));
    assert_eq!(
        svix.application().get("cust-1".into()).await.unwrap().name,
        "Customer 1"
    );
    let dup = svix
        .message()
        .create(
            "cust-1".into(),
            MessageIn {
                event_id: Some("evt-1".into()),
                ..MessageIn::new("user.created".into(), json!({}))
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(status(dup), 409);

    // Fan-out: which endpoints get a destination.
    let all = svix
        .endpoint()
        .create(
            "cust-1".into(),
            EndpointIn::new("https://a.example.com/".into()),
            None,
        )
        .await
        .unwrap();
    let created_only = svix
        .endpoint()
        .create(
            "cust-1".into(),
            EndpointIn {
                event_types: Some(set(&["user.created"])),
                ..EndpointIn::new("https://b.example.com/".into())
            },
            None,
        )
        .await
        .unwrap();
    let us_only = svix
        .endpoint()
        .create(
            "cust-1".into(),
            EndpointIn {
                channels: Some(set(&["us"])),
                ..EndpointIn::new("https://c.example.com/".into())
            },
            None,
        )
        .await
        .unwrap();
    svix.endpoint()
        .create(
            "cust-1".into(),
            EndpointIn {
                disabled: Some(true),
                ..EndpointIn::new("https://d.example.com/".into())
            },
            None,
        )
        .await
        .unwrap();
    let deleted = svix
        .message()
        .create(
            "cust-1".into(),
            MessageIn {
                channels: Some(set(&["eu"])),
                ..MessageIn::new("user.deleted".into(), json!({"id": 1}))
            },
            None,
        )
        .await
        .unwrap();
    let dests = svix
        .message_attempt()
        .list_attempted_destinations("cust-1".into(), deleted.id.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        dests.data.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        vec![all.id.clone()]
    );
    let created = svix
        .message()
        .create(
            "cust-1".into(),
            MessageIn {
                channels: Some(set(&["us", "eu"])),
                ..MessageIn::new("user.created".into(), json!({"id": 2}))
            },
            None,
        )
        .await
        .unwrap();
    let dests = svix
        .message_attempt()
        .list_attempted_destinations("cust-1".into(), created.id.clone(), None)
        .await
        .unwrap();
    let mut got: Vec<String> = dests.data.iter().map(|d| d.id.clone()).collect();
    got.sort();
    let mut want = vec![all.id.clone(), created_only.id.clone(), us_only.id.clone()];
    want.sort();
    assert_eq!(got, want);
    assert!(dests.data.iter().all(|d| d.status == MessageStatus::Pending));

    // Lists, filters and get (by id or eventId).
    let listed = svix.message().list("cust-1".into(), None).await.unwrap();
    assert_eq!(
        listed.data.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        vec![created.id.clone(), deleted.id.clone(), msg.id.clone()]
    );
    let only_deleted = svix
        .message()
        .list(
            "cust-1".into(),
            Some(MessageListOptions {
                event_types: Some(set(&["user.deleted"])),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    assert_eq!(only_deleted.data.len(), 1);
    let on_us = svix
        .message()
        .list(
            "cust-1".into(),
            Some(MessageListOptions {
                channel: Some("us".into()),
                with_content: Some(true),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        on_us.data.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        vec![created.id.clone()]
    );
    assert_eq!(on_us.data[0].payload, json!({"id": 2}));
    assert_eq!(
        svix.message()
            .get("cust-1".into(), "evt-1".into(), None)
            .await
            .unwrap()
            .id,
        msg.id
    );

    // Attempts: the delivery engine writes them; here one is written directly.
    let model = endpoints::find_in_app(&app.ctx.db, &tenant, "cust-1", &all.id)
        .await
        .unwrap();
    let dest = domain::service::attempt::destinations_of_message(
        &app.ctx.db,
        &tenant,
        &domain::service::message::find(&app.ctx.db, &tenant, &model.app_id, &created.id)
            .await
            .unwrap(),
        &Default::default(),
    )
    .await
    .unwrap()
    .data
    .into_iter()
    .find(|(_, ep)| ep.id == model.id)
    .unwrap()
    .0;
    let attempt = attempt::ActiveModel {
        id: Set(AttemptId::new()),
        tenant_id: Set(tenant.clone()),
        app_id: Set(model.app_id.clone()),
        message_id: Set(dest.message_id.clone()),
        endpoint_id: Set(model.id.clone()),
        destination_id: Set(dest.id.clone()),
        number: Set(1),
        trigger: Set(attempt::Trigger::Scheduled),
        status: Set(attempt::Status::Fail),
        url: Set(model.url.clone()),
        response_status: Set(Some(503)),
        response_body: Set(Some("busy".into())),
        duration_ms: Set(12),
        error_kind: Set(Some(attempt::ErrorKind::HttpStatus)),
        error_reason: Set(Some("HTTP 503".into())),
        next_attempt_at: Set(None),
        created_at: Set(Utc::now()),
        request: Set(None),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    let by_ep = svix
        .message_attempt()
        .list_by_endpoint("cust-1".into(), all.id.clone(), None)
        .await
        .unwrap();
    assert_eq!(by_ep.data.len(), 1);
    assert_eq!(
        (
            by_ep.data[0].response_status_code,
            by_ep.data[0].response.as_str()
        ),
        (503, "busy")
    );
    assert_eq!(by_ep.data[0].status, MessageStatus::Fail);
    let succeeded = svix
        .message_attempt()
        .list_by_endpoint(
            "cust-1".into(),
            all.id.clone(),
            Some(MessageAttemptListByEndpointOptions {
                status: Some(MessageStatus::Success),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    assert!(succeeded.data.is_empty());
    let by_msg = svix
        .message_attempt()
        .list_by_msg("cust-1".into(), created.id.clone(), None)
        .await
        .unwrap();
    assert_eq!(by_msg.data[0].id, attempt.id.to_string());
    let one = svix
        .message_attempt()
        .get("cust-1".into(), created.id.clone(), attempt.id.to_string(), None)
        .await
        .unwrap();
    assert_eq!(one.url, "https://a.example.com/");
    let msgs = svix
        .message_attempt()
        .list_attempted_messages("cust-1".into(), created_only.id.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        msgs.data.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        vec![created.id.clone()]
    );

    // Resend is recorded: the destination is pending again.
    svix.message_attempt()
        .resend("cust-1".into(), created.id.clone(), all.id.clone(), None)
        .await
        .unwrap();
    svix.message_attempt()
        .resend("cust-1".into(), msg.id.clone(), us_only.id.clone(), None)
        .await
        .unwrap();
    let dests = svix
        .message_attempt()
        .list_attempted_destinations("cust-1".into(), msg.id.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        dests.data.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        vec![us_only.id.clone()]
    );

    // Portal access: a short-lived token for that one application.
    let access = svix
        .authentication()
        .app_portal_access("cust-1".into(), AppPortalAccessIn::new(), None)
        .await
        .unwrap();
    assert!(
        access.url.starts_with(&format!("{}/portal?token=", app.base_url)),
        "{}",
        access.url
    );
    let claims = app.ctx.jwt.verify_portal_token(&access.token).unwrap();
    assert_eq!(claims.sub, model.app_id);
    assert_eq!(claims.org, tenant);
    assert!(claims.exp - claims.iat <= 3600);

    svix.health().get().await.unwrap();
}

#[tokio::test]
async fn operational_webhook_endpoints_through_the_sdk() {
    use svix::models::{
        OperationalWebhookEndpointHeadersIn, OperationalWebhookEndpointIn,
        OperationalWebhookEndpointSecretIn, OperationalWebhookEndpointUpsertIn,
    };

    let app = TestApp::spawn().await;
    let (_, token) = app.tenant("T").await;
    let svix = sdk(&app, &token);
    let ops = svix.operational_webhook().endpoint();

    assert!(ops.list(None).await.unwrap().data.is_empty());
    let created = ops
        .create(
            OperationalWebhookEndpointIn {
                uid: Some("alerts".into()),
                description: Some("pager".into()),
                event_types: Some(set(&["message.attempt.exhausted", "endpoint.disabled"])),
                throttle_rate: Some(5),
                secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
                ..OperationalWebhookEndpointIn::new("https://ops.example.com/hook".into())
            },
            None,
        )
        .await
        .unwrap();
    assert!(created.id.starts_with("ep_"));
    assert_eq!(
        created.event_types,
        Some(set(&["endpoint.disabled", "message.attempt.exhausted"]))
    );
    assert_eq!(created.throttle_rate, Some(5));
    let unknown_type = ops
        .create(
            OperationalWebhookEndpointIn {
                event_types: Some(set(&["invoice.paid"])),
                ..OperationalWebhookEndpointIn::new("https://ops.example.com/2".into())
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(status(unknown_type), 422);

    assert_eq!(ops.get("alerts".into()).await.unwrap().id, created.id);
    assert_eq!(
        ops.get_secret(created.id.clone()).await.unwrap().key,
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    );
    ops.rotate_secret("alerts".into(), OperationalWebhookEndpointSecretIn::new(), None)
        .await
        .unwrap();
    assert_ne!(
        ops.get_secret("alerts".into()).await.unwrap().key,
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    );
    ops.set_headers(
        "alerts".into(),
        OperationalWebhookEndpointHeadersIn::new(BTreeMap::from([
            ("X-Env".to_owned(), "prod".to_owned()),
            ("Authorization".to_owned(), "Bearer x".to_owned()),
        ])),
    )
    .await
    .unwrap();
    let headers = ops.get_headers("alerts".into()).await.unwrap();
    assert_eq!(
        headers.headers,
        BTreeMap::from([("X-Env".to_owned(), "prod".to_owned())])
    );
    assert_eq!(headers.sensitive, set(&["Authorization"]));

    let updated = ops
        .upsert(
            "alerts".into(),
            OperationalWebhookEndpointUpsertIn {
                description: Some("changed".into()),
                ..OperationalWebhookEndpointUpsertIn::new("https://ops2.example.com/".into())
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (updated.id.as_str(), updated.url.as_str(), updated.uid.as_deref()),
        (created.id.as_str(), "https://ops2.example.com/", Some("alerts"))
    );
    let made = ops
        .upsert(
            "second".into(),
            OperationalWebhookEndpointUpsertIn::new("https://ops3.example.com/".into()),
        )
        .await
        .unwrap();
    assert_eq!(made.uid.as_deref(), Some("second"));
    assert_eq!(ops.list(None).await.unwrap().data.len(), 2);

    // Neither shows up among the tenant's applications' endpoints.
    assert!(svix.application().list(None).await.unwrap().data.is_empty());
    ops.delete("alerts".into()).await.unwrap();
    assert_eq!(status(ops.get("alerts".into()).await.unwrap_err()), 404);
    assert_eq!(ops.list(None).await.unwrap().data.len(), 1);
}

#[tokio::test]
async fn examples_prechecks_and_tokens_through_the_sdk() {
    use svix::models::{ApplicationTokenExpireIn, EventExampleIn, MessagePrecheckIn};
    let app = TestApp::spawn().await;
    let (tenant, token) = app.tenant("T").await;
    let svix = sdk(&app, &token);
    create_acme(&svix).await;
    let schemas = json!({"1": {"type": "object", "examples": [{"n": 1}, {"n": 2}]}});
    let typed = EventTypeIn {
        schemas: Some(schemas),
        ..EventTypeIn::new("invoice.paid".into(), "An invoice was paid".into())
    };
    svix.event_type().create(typed, None).await.unwrap();
    let built = EventTypeIn {
        schemas: Some(json!({"1": {"type": "object", "properties": {"id": {"type": "integer"}}}})),
        ..EventTypeIn::new("user.created".into(), "A user".into())
    };
    svix.event_type().create(built, None).await.unwrap();
    let endpoint = |url: &str, channels: Option<&[&str]>| EndpointIn {
        channels: channels.map(set),
        event_types: Some(set(&["invoice.paid"])),
        ..EndpointIn::new(url.into())
    };
    let target = svix
        .endpoint()
        .create("acme".into(), endpoint("https://example.com/a", None), None)
        .await
        .unwrap();
    let bystander = svix
        .endpoint()
        .create(
            "acme".into(),
            endpoint("https://example.com/b", Some(&["eu"])),
            None,
        )
        .await
        .unwrap();

    // send-example: the chosen example, to this endpoint only, logged like any message.
    let example = |event_type: &str, index: Option<u64>| EventExampleIn {
        example_index: index,
        ..EventExampleIn::new(event_type.into())
    };
    let sent = svix
        .endpoint()
        .send_example(
            "acme".into(),
            target.id.clone(),
            example("invoice.paid", Some(1)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(sent.payload, json!({"n": 2}));
    let dests = svix
        .message_attempt()
        .list_attempted_destinations("acme".into(), sent.id.clone(), None)
        .await
        .unwrap();
    let reached: Vec<&str> = dests.data.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(reached, [target.id.as_str()]);
    // Built from the schema when it gives no example, whatever endpoint subscribes to.
    let sent = svix
        .endpoint()
        .send_example(
            "acme".into(),
            bystander.id.clone(),
            example("user.created", Some(3)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(sent.payload, json!({"id": 0}));
    for (event_type, index, expected) in [("invoice.paid", Some(2), 422), ("no.such.type", None, 404)] {
        let refused = svix
            .endpoint()
            .send_example("acme".into(), target.id.clone(), example(event_type, index), None)
            .await
            .unwrap_err();
        assert_eq!(status(refused), expected, "{event_type} {index:?}");
    }
    let refused = svix
        .endpoint()
        .send_example(
            "acme".into(),
            "ep_unknown".into(),
            example("invoice.paid", None),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(status(refused), 404);

    // precheck: would any endpoint take it now?
    let precheck = async |event_type: &str, channels: Option<&[&str]>| {
        svix.message()
            .precheck(
                "acme".into(),
                MessagePrecheckIn {
                    channels: channels.map(set),
                    ..MessagePrecheckIn::new(event_type.into())
                },
                None,
            )
            .await
            .unwrap()
            .active
    };
    assert!(precheck("invoice.paid", None).await);
    assert!(!precheck("user.created", None).await, "nobody subscribes to it");
    svix.endpoint()
        .delete("acme".into(), target.id.clone())
        .await
        .unwrap();
    assert!(
        !precheck("invoice.paid", None).await,
        "only a channel listener is left"
    );
    assert!(precheck("invoice.paid", Some(&["eu"])).await);

    // whoami names the tenant; expire-all takes effect; logout revokes the token.
    let me = svix.authentication().whoami().await.unwrap();
    assert_eq!(me.env_id.as_deref(), Some(tenant.as_str()));
    svix.authentication()
        .expire_all("acme".into(), ApplicationTokenExpireIn::new(), None)
        .await
        .unwrap();
    svix.authentication().logout(None).await.unwrap();
    assert_eq!(
        status(svix.application().get("acme".into()).await.unwrap_err()),
        401
    );
}

#[tokio::test]
async fn event_type_groups_and_feature_flags_through_the_sdk() {
    let app = TestApp::spawn().await;
    let (_, token) = app.tenant("T").await;
    let svix = sdk(&app, &token);
    let created = svix
        .event_type()
        .create(
            EventTypeIn {
                group_name: Some("billing".into()),
                feature_flags: Some(set(&["beta", "alpha", "beta"])),
                ..EventTypeIn::new("invoice.paid".into(), "Paid".into())
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(created.group_name.as_deref(), Some("billing"));
    assert_eq!(created.feature_flags, Some(set(&["alpha", "beta"])));
    assert_eq!(created.feature_flag, None, "two flags are no single flag");
    let got = svix.event_type().get("invoice.paid".into()).await.unwrap();
    assert_eq!(got.feature_flags, created.feature_flags);

    // PATCH: absent leaves alone, null clears.
    let patched = svix
        .event_type()
        .patch(
            "invoice.paid".into(),
            EventTypePatch {
                feature_flags: js_option::JsOption::Some(set(&["gamma"])),
                ..EventTypePatch::new()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.feature_flags, Some(set(&["gamma"])));
    assert_eq!(patched.feature_flag.as_deref(), Some("gamma"));
    assert_eq!(patched.group_name.as_deref(), Some("billing"));
    let cleared = svix
        .event_type()
        .patch(
            "invoice.paid".into(),
            EventTypePatch {
                feature_flags: js_option::JsOption::Null,
                group_name: js_option::JsOption::Null,
                ..EventTypePatch::new()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.feature_flags, None);
    assert_eq!(cleared.group_name, None);

    // Older clients send one `featureFlag`; bad names are refused and change nothing.
    let api = crate::delivery::Api {
        app: &app,
        token: token.clone(),
    };
    let old = api
        .post(
            "/api/v1/event-type",
            json!({"name": "user.created", "description": "", "featureFlag": "legacy"}),
        )
        .await;
    assert_eq!(old["featureFlags"], json!(["legacy"]));
    assert_eq!(old["featureFlag"], "legacy");
    for bad in [
        json!({"name": "a.b", "description": "", "featureFlags": ["no spaces"]}),
        json!({"name": "a.b", "description": "", "groupName": "no spaces"}),
        json!({"name": "a.b", "description": "", "featureFlags": ["x"], "featureFlag": "y"}),
    ] {
        let refused = app
            .http
            .post(app.url("/api/v1/event-type"))
            .bearer_auth(&token)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 422, "{bad}");
    }
    assert_eq!(
        status(svix.event_type().get("a.b".into()).await.unwrap_err()),
        404,
        "nothing made"
    );
}

#[tokio::test]
async fn a_catalogue_moves_in_from_openapi_and_between_tenants_through_the_sdk() {
    use svix::models::{EnvironmentIn, EventTypeImportOpenApiIn};
    let app = TestApp::spawn().await;
    let (_, token) = app.tenant("T").await;
    let svix = sdk(&app, &token);
    svix.event_type()
        .create(EventTypeIn::new("old.thing".into(), "Old".into()), None)
        .await
        .unwrap();
    let yaml = "openapi: 3.1.0\n\
                webhooks:\n  \
                  invoice.paid:\n    post:\n      summary: An invoice was paid\n      x-svix-group-name: billing\n      \
                    requestBody:\n        content:\n          application/json:\n            schema:\n              \
                      $ref: '#/components/schemas/Invoice'\n  \
                  user.created:\n    post:\n      description: A user\n      deprecated: true\n\
                components:\n  schemas:\n    Invoice:\n      type: object\n      properties:\n        id: {type: string}\n";
    let import = |dry_run: bool, replace_all: bool| EventTypeImportOpenApiIn {
        spec_raw: Some(yaml.into()),
        dry_run: Some(dry_run),
        replace_all: Some(replace_all),
        ..EventTypeImportOpenApiIn::new()
    };
    // A dry run says what would change and changes nothing.
    let dry = svix
        .event_type()
        .import_openapi(import(true, true), None)
        .await
        .unwrap();
    let mut modified = dry.data.modified.clone();
    modified.sort();
    assert_eq!(modified, ["invoice.paid", "old.thing", "user.created"]);
    let to_modify = dry.data.to_modify.unwrap();
    assert!(to_modify.iter().any(|t| t.name == "old.thing"));
    assert_eq!(
        status(svix.event_type().get("invoice.paid".into()).await.unwrap_err()),
        404
    );

    let done = svix
        .event_type()
        .import_openapi(import(false, true), None)
        .await
        .unwrap();
    assert_eq!(done.data.modified.len(), 3);
    assert!(done.data.to_modify.is_none());
    let paid = svix.event_type().get("invoice.paid".into()).await.unwrap();
    assert_eq!(paid.description, "An invoice was paid");
    assert_eq!(paid.group_name.as_deref(), Some("billing"));
    assert_eq!(paid.schemas.unwrap()["1"]["properties"]["id"]["type"], "string");
    assert!(
        svix.event_type()
            .get("user.created".into())
            .await
            .unwrap()
            .deprecated
    );
    assert_eq!(
        svix.event_type().get("old.thing".into()).await.unwrap().archived,
        Some(true)
    );
    // The same document again changes nothing.
    let again = svix
        .event_type()
        .import_openapi(import(false, true), None)
        .await
        .unwrap();
    assert!(again.data.modified.is_empty(), "{:?}", again.data.modified);

    // Bad documents are refused whole.
    for (body, expected) in [
        (json!({}), 400),
        (json!({"spec": {"openapi": "3.1.0"}, "specRaw": "{}"}), 400),
        (json!({"spec": {"openapi": "3.1.0"}}), 422),
        (json!({"specRaw": "webhooks: [unclosed"}), 422),
        (
            json!({"spec": {"webhooks": {"ok.one": {"post": {}}, "not ok": {"post": {}}}}}),
            422,
        ),
    ] {
        let res = app
            .http
            .post(app.url("/api/v1/event-type/import/openapi"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected, "{body}");
    }
    assert_eq!(
        status(svix.event_type().get("ok.one".into()).await.unwrap_err()),
        404
    );

    // Export from this tenant, import into another: the same catalogue.
    let exported = svix.environment().export(None).await.unwrap();
    assert_eq!(exported.event_types.len(), 3);
    let (_, other_token) = app.tenant("U").await;
    let other = sdk(&app, &other_token);
    let document: EnvironmentIn = serde_json::from_value(json!({
        "eventTypes": serde_json::to_value(&exported.event_types).unwrap(),
        "settings": {"colorPaletteLight": {"primary": "#000"}},
        "connectors": [],
    }))
    .unwrap();
    other.environment().import(document, None).await.unwrap();
    let theirs = other.environment().export(None).await.unwrap();
    let strip = |types: Vec<svix::models::EventTypeOut>| {
        types
            .into_iter()
            .map(|t| {
                (
                    t.name,
                    t.description,
                    t.schemas,
                    t.archived,
                    t.deprecated,
                    t.group_name,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(theirs.event_types), strip(exported.event_types));
    // A bad event type refuses the whole import.
    let bad: EnvironmentIn = serde_json::from_value(json!({
        "eventTypes": [{"name": "fine.one", "description": ""}, {"name": "not fine", "description": ""}]
    }))
    .unwrap();
    assert_eq!(
        status(other.environment().import(bad, None).await.unwrap_err()),
        422
    );
    assert_eq!(
        status(other.event_type().get("fine.one".into()).await.unwrap_err()),
        404
    );
}

#[tokio::test]
async fn attempt_and_message_lists_filter_as_the_sdk_asks() {
    use std::time::Duration;
    use svix::{
        api::{MessageAttemptListAttemptedMessagesOptions, MessageAttemptListByEndpointOptions},
        models::StatusCodeClass,
    };
    let app = crate::delivery::local_app().await;
    let (_, token) = app.tenant("T").await;
    let svix = sdk(&app, &token);
    let receiver = crate::delivery::Receiver::start(&[503]).await;
    create_acme(&svix).await;
    let ep = svix
        .endpoint()
        .create("acme".into(), EndpointIn::new(receiver.url.clone()), None)
        .await
        .unwrap();
    let first = svix
        .message()
        .create(
            "acme".into(),
            MessageIn {
                tags: Some(set(&["first"])),
                ..MessageIn::new("invoice.paid".into(), json!({"n": 1}))
            },
            None,
        )
        .await
        .unwrap();
    // Its first try meets the scripted 503; the retry a second later succeeds.
    tests::eventually(Duration::from_secs(20), async || {
        (receiver.got().len() >= 2).then_some(())
    })
    .await
    .expect("the retry succeeds");
    let between = Utc::now();
    svix.message()
        .create(
            "acme".into(),
            MessageIn {
                channels: Some(set(&["eu"])),
                tags: Some(set(&["second"])),
                ..MessageIn::new("user.created".into(), json!({"n": 2}))
            },
            None,
        )
        .await
        .unwrap();
    tests::eventually(Duration::from_secs(20), async || {
        (receiver.got().len() >= 3).then_some(())
    })
    .await
    .expect("the second message is delivered");
    let attempts = async |options: MessageAttemptListByEndpointOptions| {
        svix.message_attempt()
            .list_by_endpoint("acme".into(), ep.id.clone(), Some(options))
            .await
            .unwrap()
            .data
    };
    tests::eventually(Duration::from_secs(20), async || {
        (attempts(MessageAttemptListByEndpointOptions::default())
            .await
            .len()
            == 3)
            .then_some(())
    })
    .await
    .expect("three attempts are recorded");
    let by_class = |class| MessageAttemptListByEndpointOptions {
        status_code_class: Some(class),
        ..Default::default()
    };
    let failed = attempts(by_class(StatusCodeClass::Code5xx)).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].response_status_code, 503);
    assert_eq!(failed[0].msg_id, first.id);
    assert_eq!(attempts(by_class(StatusCodeClass::Code2xx)).await.len(), 2);
    assert!(attempts(by_class(StatusCodeClass::CodeNone)).await.is_empty());
    let tagged = attempts(MessageAttemptListByEndpointOptions {
        tag: Some("second".into()),
        with_msg: Some(true),
        ..Default::default()
    })
    .await;
    assert_eq!(tagged.len(), 1);
    let msg = tagged[0].msg.as_ref().expect("with_msg adds the message");
    assert_eq!(msg.tags, Some(set(&["second"])));
    assert_eq!(
        msg.payload,
        json!({}),
        "payloads never come with attempts, as on Svix"
    );
    assert!(
        attempts(MessageAttemptListByEndpointOptions::default()).await[0]
            .msg
            .is_none(),
        "only when asked"
    );

    // The endpoint's messages: by channel, tag, event type and time.
    let messages = async |options: MessageAttemptListAttemptedMessagesOptions| {
        svix.message_attempt()
            .list_attempted_messages("acme".into(), ep.id.clone(), Some(options))
            .await
            .unwrap()
            .data
            .into_iter()
            .map(|m| m.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(messages(Default::default()).await.len(), 2);
    let eu = messages(MessageAttemptListAttemptedMessagesOptions {
        channel: Some("eu".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(eu.len(), 1);
    assert_ne!(eu[0], first.id);
    let first_only = [first.id.clone()];
    for options in [
        MessageAttemptListAttemptedMessagesOptions {
            tag: Some("first".into()),
            ..Default::default()
        },
        MessageAttemptListAttemptedMessagesOptions {
            event_types: Some(set(&["invoice.paid"])),
            ..Default::default()
        },
        MessageAttemptListAttemptedMessagesOptions {
            before: Some(between),
            ..Default::default()
        },
    ] {
        assert_eq!(messages(options).await, first_only);
    }
    let after = messages(MessageAttemptListAttemptedMessagesOptions {
        after: Some(between),
        ..Default::default()
    })
    .await;
    assert_eq!(after, eu);

    // A class that does not exist is refused with its name.
    let res = app
        .http
        .get(app.url(&format!(
            "/api/v1/app/acme/attempt/endpoint/{}?status_code_class=5",
            ep.id
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["detail"][0]["loc"], json!(["query", "status_code_class"]));
}

#[tokio::test]
async fn contents_are_expunged_for_good_through_the_sdk() {
    use std::time::Duration;
    let app = crate::delivery::local_app().await;
    let (_, token) = app.tenant("T").await;
    let (_, other_token) = app.tenant("U").await;
    let svix = sdk(&app, &token);
    let receiver = crate::delivery::Receiver::start(&[]).await;
    create_acme(&svix).await;
    let ep = svix
        .endpoint()
        .create("acme".into(), EndpointIn::new(receiver.url.clone()), None)
        .await
        .unwrap();
    let msg = svix
        .message()
        .create(
            "acme".into(),
            MessageIn::new("invoice.paid".into(), json!({"card": "4242"})),
            None,
        )
        .await
        .unwrap();
    let attempt = tests::eventually(Duration::from_secs(20), async || {
        svix.message_attempt()
            .list_by_msg("acme".into(), msg.id.clone(), None)
            .await
            .unwrap()
            .data
            .into_iter()
            .next()
    })
    .await
    .expect("the message is delivered");
    assert_eq!(attempt.response, "answer 200");

    // Another tenant cannot reach it.
    let stranger = sdk(&app, &other_token);
    let refused = stranger
        .message()
        .expunge_content("acme".into(), msg.id.clone())
        .await;
    assert_eq!(status(refused.unwrap_err()), 404);

    svix.message()
        .expunge_content("acme".into(), msg.id.clone())
        .await
        .unwrap();
    let got = app
        .http
        .get(app.url(&format!("/api/v1/app/acme/msg/{}", msg.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(got["payload"], json!({"expired": true}));
    let resent = svix
        .message_attempt()
        .resend("acme".into(), msg.id.clone(), ep.id.clone(), None)
        .await;
    assert_eq!(status(resent.unwrap_err()), 400, "nothing left to send");

    svix.message_attempt()
        .expunge_content("acme".into(), msg.id.clone(), attempt.id.clone())
        .await
        .unwrap();
    let after = svix
        .message_attempt()
        .get("acme".into(), msg.id.clone(), attempt.id.clone(), None)
        .await
        .unwrap();
    assert_eq!(after.response, "EXPUNGED");
    assert_eq!(after.response_status_code, 200, "the rest of the log stays");
    let missing = svix
        .message_attempt()
        .expunge_content("acme".into(), msg.id.clone(), "atmpt_unknown".into())
        .await;
    assert_eq!(status(missing.unwrap_err()), 404);
}
