//! Applications, event types and endpoints (their secrets and headers) through the SDK.

use std::collections::BTreeMap;

use chrono::Utc;
use domain::{service::endpoint as endpoints, signing::SigningSecret};
use serde_json::json;
use svix::{
    api::{ApplicationListOptions, EventTypeListOptions},
    models::{
        ApplicationIn, ApplicationPatch, EndpointHeadersIn, EndpointHeadersPatchIn, EndpointIn,
        EndpointPatch, EndpointSecretRotateIn, EndpointUpsertIn, EventTypeIn, EventTypePatch,
    },
};
use tests::TestApp;

use super::{sdk, set, status};

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
