//! Tenant-scoped finders cannot return, change or delete another tenant's rows.

use chrono::Utc;
use domain::{
    entity::{
        StringMap, api_token, application, attempt, audit_event, destination, endpoint, endpoint_secret,
        event_type, idempotency_key, message, user,
    },
    id::*,
    scope::TenantScoped,
    values::Role,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, QueryFilter, Set};
use tests::TestApp;

/// One row of every tenant-owned table for `tenant`; returns the ids.
struct Seeded {
    app: AppId,
    endpoint: EndpointId,
    message: MessageId,
    destination: DestinationId,
    attempt: AttemptId,
    event_type: EventTypeId,
    secret: EndpointSecretId,
    token: ApiTokenId,
    user: UserId,
    audit: AuditEventId,
}

async fn seed(db: &DatabaseConnection, tenant: &TenantId) -> Seeded {
    let now = Utc::now();
    let t = || Set(tenant.clone());
    let app = application::ActiveModel {
        id: Set(AppId::new()),
        tenant_id: t(),
        uid: Set(Some("shared-uid".into())),
        name: Set("app".into()),
        rate_limit: Set(None),
        retention_days: Set(None),
        operational: Set(false),
        require_endpoint_verification: Set(false),
        metadata: Set(StringMap::default()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap();
    let event_type = event_type::ActiveModel {
        id: Set(EventTypeId::new()),
        tenant_id: t(),
        name: Set("invoice.paid".into()),
        description: Set(String::new()),
        schemas: Set(None),
        archived: Set(false),
        deprecated: Set(false),
        feature_flags: Set(None),
        group_name: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap();
    let endpoint = endpoint::ActiveModel {
        id: Set(EndpointId::new()),
        tenant_id: t(),
        app_id: Set(app.id.clone()),
        uid: Set(Some("shared-uid".into())),
        url: Set("https://example.com/hook".into()),
        description: Set(String::new()),
        disabled: Set(false),
        disabled_reason: Set(None),
        filter_types: Set(None),
        channels: Set(None),
        rate_limit: Set(None),
        timeout_secs: Set(None),
        retry_schedule: Set(None),
        headers: Set(StringMap::default()),
        metadata: Set(StringMap::default()),
        failing_since: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ordered: Set(None),
        access: Set(None),
        credentials: Set(None),
        filter: Set(None),
        transformation: Set(None),
        verification: Set(None),
        verification_challenge: Set(None),
        verification_tries: Set(0),
        verification_due_at: Set(None),
        verification_error: Set(None),
        verified_at: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
    let secret = endpoint_secret::ActiveModel {
        id: Set(EndpointSecretId::new()),
        tenant_id: t(),
        endpoint_id: Set(endpoint.id.clone()),
        ciphertext: Set(vec![1, 2, 3]),
        created_at: Set(now),
        expires_at: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
    let message = message::ActiveModel {
        id: Set(MessageId::new()),
        tenant_id: t(),
        app_id: Set(app.id.clone()),
        event_id: Set(Some("evt-1".into())),
        event_type: Set("invoice.paid".into()),
        channels: Set(None),
        tags: Set(None),
        payload: Set(Some("{}".into())),
        created_at: Set(now),
        deliver_at: Set(None),
        filtered: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
    let destination = destination::ActiveModel {
        id: Set(DestinationId::new()),
        tenant_id: t(),
        app_id: Set(app.id.clone()),
        message_id: Set(message.id.clone()),
        endpoint_id: Set(endpoint.id.clone()),
        status: Set(destination::Status::Pending),
        attempt_count: Set(0),
        next_attempt_at: Set(Some(now)),
        last_attempt_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        next_trigger: Set(destination::Trigger::Scheduled),
        paced: Set(false),
    }
    .insert(db)
    .await
    .unwrap();
    let attempt = attempt::ActiveModel {
        id: Set(AttemptId::new()),
        tenant_id: t(),
        app_id: Set(app.id.clone()),
        message_id: Set(message.id.clone()),
        endpoint_id: Set(endpoint.id.clone()),
        destination_id: Set(destination.id.clone()),
        number: Set(1),
        trigger: Set(attempt::Trigger::Scheduled),
        status: Set(attempt::Status::Success),
        url: Set(endpoint.url.clone()),
        response_status: Set(Some(200)),
        response_body: Set(Some("ok".into())),
        duration_ms: Set(12),
        error_kind: Set(None),
        error_reason: Set(None),
        next_attempt_at: Set(None),
        created_at: Set(now),
        request: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
    let token = api_token::ActiveModel {
        id: Set(ApiTokenId::new()),
        tenant_id: t(),
        name: Set("t".into()),
        created_by: Set(None),
        created_at: Set(now),
        expires_at: Set(None),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
    let user = user::ActiveModel {
        id: Set(UserId::new()),
        tenant_id: t(),
        email: Set(format!("{}@example.com", tenant.as_str().to_lowercase())),
        password_hash: Set("x".into()),
        role: Set(Role::Viewer),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
    let audit = audit_event::ActiveModel {
        id: Set(AuditEventId::new()),
        tenant_id: t(),
        actor_kind: Set("cli".into()),
        actor_id: Set(None),
        actor_label: Set("cli".into()),
        action: Set("test".into()),
        target_kind: Set("test".into()),
        target_id: Set(None),
        details: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap();
    idempotency_key::ActiveModel {
        tenant_id: t(),
        scope: Set("tok".into()),
        key: Set("shared-key".into()),
        request_hash: Set("h".into()),
        response_status: Set(Some(200)),
        response_sealed: Set(None),
        created_at: Set(now),
        expires_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap();
    Seeded {
        app: app.id,
        endpoint: endpoint.id,
        message: message.id,
        destination: destination.id,
        attempt: attempt.id,
        event_type: event_type.id,
        secret: secret.id,
        token: token.id,
        user: user.id,
        audit: audit.id,
    }
}

/// For one entity: A's scope lists only A's rows and cannot find, update or delete B's.
macro_rules! assert_isolated {
    ($db:expr, $entity:ident, $a:expr, $b:expr, $b_id:expr) => {{
        let rows = $entity::Entity::for_tenant($a).all($db).await.unwrap();
        assert!(
            !rows.is_empty(),
            "{}: tenant A sees its own rows",
            stringify!($entity)
        );
        assert!(
            rows.iter().all(|r| &r.tenant_id == $a),
            "{}: a row of another tenant leaked",
            stringify!($entity)
        );
        assert!(
            rows.iter().all(|r| r.id != $b_id),
            "{}: B's row leaked",
            stringify!($entity)
        );

        let found = $entity::Entity::find_in_tenant($a, $b_id.clone())
            .one($db)
            .await
            .unwrap();
        assert!(found.is_none(), "{}: A found B's row by id", stringify!($entity));

        let updated = $entity::Entity::update_for_tenant($a)
            .filter($entity::Column::Id.eq($b_id.clone()))
            .col_expr(
                $entity::Column::TenantId,
                sea_orm::sea_query::Expr::value($a.clone()),
            )
            .exec($db)
            .await
            .unwrap();
        assert_eq!(
            updated.rows_affected,
            0,
            "{}: A updated B's row",
            stringify!($entity)
        );

        let deleted = $entity::Entity::delete_for_tenant($a)
            .filter($entity::Column::Id.eq($b_id.clone()))
            .exec($db)
            .await
            .unwrap();
        assert_eq!(
            deleted.rows_affected,
            0,
            "{}: A deleted B's row",
            stringify!($entity)
        );

        let still_there = $entity::Entity::find_in_tenant($b, $b_id.clone())
            .one($db)
            .await
            .unwrap();
        assert!(still_there.is_some(), "{}: B's row is gone", stringify!($entity));
    }};
}

#[tokio::test]
async fn scoped_queries_never_cross_tenants() {
    let app = TestApp::spawn().await;
    let db = &app.ctx.db;
    let (a, _) = app.tenant("A").await;
    let (b, _) = app.tenant("B").await;
    seed(db, &a).await;
    let theirs = seed(db, &b).await;

    assert_isolated!(db, application, &a, &b, theirs.app);
    assert_isolated!(db, endpoint, &a, &b, theirs.endpoint);
    assert_isolated!(db, endpoint_secret, &a, &b, theirs.secret);
    assert_isolated!(db, event_type, &a, &b, theirs.event_type);
    assert_isolated!(db, message, &a, &b, theirs.message);
    assert_isolated!(db, destination, &a, &b, theirs.destination);
    assert_isolated!(db, attempt, &a, &b, theirs.attempt);
    assert_isolated!(db, user, &a, &b, theirs.user);
    assert_isolated!(db, audit_event, &a, &b, theirs.audit);
    // `app.tenant()` made one token per tenant already, and `seed` one more.
    let tokens = api_token::Entity::for_tenant(&a).all(db).await.unwrap();
    assert!(tokens.iter().all(|t| t.tenant_id == a) && tokens.len() == 2);
    assert!(
        api_token::Entity::find_in_tenant(&a, theirs.token.clone())
            .one(db)
            .await
            .unwrap()
            .is_none()
    );

    // Idempotency keys have a composite key; the same key string in two tenants stays apart.
    let keys = idempotency_key::Entity::for_tenant(&a).all(db).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys.iter().all(|k| k.tenant_id == a));
    let b_key = (b.clone(), "tok".to_string(), "shared-key".to_string());
    assert!(
        idempotency_key::Entity::find_in_tenant(&a, b_key.clone())
            .one(db)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        idempotency_key::Entity::find_in_tenant(&b, b_key)
            .one(db)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn uids_are_unique_per_tenant_not_globally() {
    // Both tenants used uid "shared-uid" and event type "invoice.paid" above; prove the
    // unique indexes are per tenant by seeding twice without a conflict, and that a second
    // row in the same tenant conflicts.
    let app = TestApp::spawn().await;
    let (a, _) = app.tenant("A").await;
    let (b, _) = app.tenant("B").await;
    seed(&app.ctx.db, &a).await;
    seed(&app.ctx.db, &b).await;
    let dup = application::ActiveModel {
        id: Set(AppId::new()),
        tenant_id: Set(a.clone()),
        uid: Set(Some("shared-uid".into())),
        name: Set("dup".into()),
        rate_limit: Set(None),
        retention_days: Set(None),
        operational: Set(false),
        require_endpoint_verification: Set(false),
        metadata: Set(StringMap::default()),
        created_at: Set(Utc::now()),
        updated_at: Set(Utc::now()),
    }
    .insert(&app.ctx.db)
    .await;
    let err = dup.unwrap_err();
    assert!(
        matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))),
        "expected a unique violation, got {err}"
    );
}
