//! The event-type catalogue through the SDK (groups, feature flags, examples, an OpenAPI
//! import moved between tenants), prechecks and tokens, and operational webhooks.

use std::collections::BTreeMap;

use serde_json::json;
use svix::models::{EndpointIn, EventTypeIn, EventTypePatch};
use tests::TestApp;

use super::{create_acme, sdk, set, status};

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
    let api = tests::api::Api {
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
    // Both at once: the one flag joins the list.
    let both = api
        .post(
            "/api/v1/event-type",
            json!({"name": "user.both", "featureFlags": ["y", "x"], "featureFlag": "x2"}),
        )
        .await;
    assert_eq!(both["featureFlags"], json!(["x", "x2", "y"]));
    for bad in [
        json!({"name": "a.b", "description": "", "featureFlags": ["no spaces"]}),
        json!({"name": "a.b", "description": "", "groupName": "no spaces"}),
        json!({"name": "a.b", "description": "", "featureFlags": ["x"], "featureFlag": "no spaces"}),
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
