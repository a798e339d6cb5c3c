//! Messages, their attempts and the portal through the SDK: sending, the log and its
//! filters, resending, and contents expunged for good.

use chrono::Utc;
use domain::{entity::attempt, id::AttemptId, service::endpoint as endpoints};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;
use svix::{
    api::{MessageAttemptListByEndpointOptions, MessageListOptions},
    models::{AppPortalAccessIn, ApplicationIn, EndpointIn, EventTypeIn, MessageIn, MessageStatus},
};
use tests::TestApp;

use super::{create_acme, sdk, set, status};

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
async fn attempt_and_message_lists_filter_as_the_sdk_asks() {
    use std::time::Duration;
    use svix::{
        api::{MessageAttemptListAttemptedMessagesOptions, MessageAttemptListByEndpointOptions},
        models::StatusCodeClass,
    };
    let app = tests::local_app().await;
    let (_, token) = app.tenant("T").await;
    let svix = sdk(&app, &token);
    let receiver = tests::receiver::Receiver::start(&[503]).await;
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
    let app = tests::local_app().await;
    let (_, token) = app.tenant("T").await;
    let (_, other_token) = app.tenant("U").await;
    let svix = sdk(&app, &token);
    let receiver = tests::receiver::Receiver::start(&[]).await;
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
