//! The core tables of DESIGN.md: tenants and their people and tokens, applications,
//! event types, endpoints and their secrets, messages, destinations, attempts,
//! idempotency keys and the audit log.
//!
//! Ids are prefixed ULIDs stored as strings; they sort by creation time, so an index on
//! `(endpoint_id, id)` serves "this endpoint's attempts, newest first, before/after t".

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // All or nothing, on SQLite too.
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Tenant::Table)
                .col(string(Tenant::Id).primary_key())
                .col(string(Tenant::Name))
                .col(timestamp_with_time_zone(Tenant::CreatedAt))
                .col(timestamp_with_time_zone(Tenant::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(User::Table)
                .col(string(User::Id).primary_key())
                .col(string(User::TenantId))
                .col(string_uniq(User::Email))
                .col(string(User::PasswordHash))
                .col(string(User::Role))
                .col(timestamp_with_time_zone(User::CreatedAt))
                .col(timestamp_with_time_zone(User::UpdatedAt))
                .col(timestamp_with_time_zone_null(User::LastLoginAt))
                .foreign_key(&mut cascade(
                    User::Table,
                    User::TenantId,
                    Tenant::Table,
                    Tenant::Id,
                ))
                .to_owned(),
        )
        .await?;
        index(m, User::Table, "user_tenant", &[User::TenantId], false).await?;

        m.create_table(
            Table::create()
                .table(ApiToken::Table)
                .col(string(ApiToken::Id).primary_key())
                .col(string(ApiToken::TenantId))
                .col(string(ApiToken::Name))
                .col(string_null(ApiToken::CreatedBy))
                .col(timestamp_with_time_zone(ApiToken::CreatedAt))
                .col(timestamp_with_time_zone_null(ApiToken::ExpiresAt))
                .col(timestamp_with_time_zone_null(ApiToken::LastUsedAt))
                .col(timestamp_with_time_zone_null(ApiToken::RevokedAt))
                .foreign_key(&mut cascade(
                    ApiToken::Table,
                    ApiToken::TenantId,
                    Tenant::Table,
                    Tenant::Id,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            ApiToken::Table,
            "api_token_tenant",
            &[ApiToken::TenantId, ApiToken::Id],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Application::Table)
                .col(string(Application::Id).primary_key())
                .col(string(Application::TenantId))
                .col(string_null(Application::Uid))
                .col(string(Application::Name))
                .col(integer_null(Application::RateLimit))
                .col(integer_null(Application::RetentionDays))
                .col(json_binary(Application::Metadata))
                .col(timestamp_with_time_zone(Application::CreatedAt))
                .col(timestamp_with_time_zone(Application::UpdatedAt))
                .foreign_key(&mut cascade(
                    Application::Table,
                    Application::TenantId,
                    Tenant::Table,
                    Tenant::Id,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            Application::Table,
            "application_tenant",
            &[Application::TenantId, Application::Id],
            false,
        )
        .await?;
        index(
            m,
            Application::Table,
            "application_uid",
            &[Application::TenantId, Application::Uid],
            true,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(EventType::Table)
                .col(string(EventType::Id).primary_key())
                .col(string(EventType::TenantId))
                .col(string(EventType::Name))
                .col(text(EventType::Description))
                .col(json_binary_null(EventType::Schemas))
                .col(boolean(EventType::Archived))
                .col(boolean(EventType::Deprecated))
                .col(string_null(EventType::FeatureFlag))
                .col(timestamp_with_time_zone(EventType::CreatedAt))
                .col(timestamp_with_time_zone(EventType::UpdatedAt))
                .foreign_key(&mut cascade(
                    EventType::Table,
                    EventType::TenantId,
                    Tenant::Table,
                    Tenant::Id,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            EventType::Table,
            "event_type_name",
            &[EventType::TenantId, EventType::Name],
            true,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Endpoint::Table)
                .col(string(Endpoint::Id).primary_key())
                .col(string(Endpoint::TenantId))
                .col(string(Endpoint::AppId))
                .col(string_null(Endpoint::Uid))
                .col(text(Endpoint::Url))
                .col(text(Endpoint::Description))
                .col(boolean(Endpoint::Disabled))
                .col(string_null(Endpoint::DisabledReason))
                .col(json_binary_null(Endpoint::FilterTypes))
                .col(json_binary_null(Endpoint::Channels))
                .col(integer_null(Endpoint::RateLimit))
                .col(integer_null(Endpoint::TimeoutSecs))
                .col(json_binary_null(Endpoint::RetrySchedule))
                .col(json_binary(Endpoint::Headers))
                .col(json_binary(Endpoint::Metadata))
                .col(timestamp_with_time_zone_null(Endpoint::FailingSince))
                .col(timestamp_with_time_zone(Endpoint::CreatedAt))
                .col(timestamp_with_time_zone(Endpoint::UpdatedAt))
                .foreign_key(&mut cascade(
                    Endpoint::Table,
                    Endpoint::TenantId,
                    Tenant::Table,
                    Tenant::Id,
                ))
                .foreign_key(&mut cascade(
                    Endpoint::Table,
                    Endpoint::AppId,
                    Application::Table,
                    Application::Id,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            Endpoint::Table,
            "endpoint_app",
            &[Endpoint::AppId, Endpoint::Id],
            false,
        )
        .await?;
        index(
            m,
            Endpoint::Table,
            "endpoint_uid",
            &[Endpoint::AppId, Endpoint::Uid],
            true,
        )
        .await?;
        index(
            m,
            Endpoint::Table,
            "endpoint_tenant",
            &[Endpoint::TenantId],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(EndpointSecret::Table)
                .col(string(EndpointSecret::Id).primary_key())
                .col(string(EndpointSecret::TenantId))
                .col(string(EndpointSecret::EndpointId))
                .col(blob(EndpointSecret::Ciphertext))
                .col(timestamp_with_time_zone(EndpointSecret::CreatedAt))
                .col(timestamp_with_time_zone_null(EndpointSecret::ExpiresAt))
                .foreign_key(&mut cascade(
                    EndpointSecret::Table,
                    EndpointSecret::TenantId,
                    Tenant::Table,
                    Tenant::Id,
                ))
                .foreign_key(&mut cascade(
                    EndpointSecret::Table,
                    EndpointSecret::EndpointId,
                    Endpoint::Table,
                    Endpoint::Id,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            EndpointSecret::Table,
            "endpoint_secret_endpoint",
            &[EndpointSecret::EndpointId],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Message::Table)
                .col(string(Message::Id).primary_key())
                .col(string(Message::TenantId))
                .col(string(Message::AppId))
                .col(string_null(Message::EventId))
                .col(string(Message::EventType))
                .col(json_binary_null(Message::Channels))
                .col(json_binary_null(Message::Tags))
                // The exact bytes that are signed and sent; NULL once retention expired them.
                .col(text_null(Message::Payload))
                .col(timestamp_with_time_zone(Message::CreatedAt))
                .foreign_key(&mut cascade(
                    Message::Table,
                    Message::TenantId,
                    Tenant::Table,
                    Tenant::Id,
                ))
                .foreign_key(&mut cascade(
                    Message::Table,
                    Message::AppId,
                    Application::Table,
                    Application::Id,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            Message::Table,
            "message_app_time",
            &[Message::AppId, Message::Id],
            false,
        )
        .await?;
        index(
            m,
            Message::Table,
            "message_event_id",
            &[Message::AppId, Message::EventId],
            true,
        )
        .await?;
        index(
            m,
            Message::Table,
            "message_tenant_time",
            &[Message::TenantId, Message::CreatedAt],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Destination::Table)
                .col(string(Destination::Id).primary_key())
                .col(string(Destination::TenantId))
                .col(string(Destination::AppId))
                .col(string(Destination::MessageId))
                .col(string(Destination::EndpointId))
                .col(string(Destination::Status))
                .col(integer(Destination::AttemptCount))
                .col(timestamp_with_time_zone_null(Destination::NextAttemptAt))
                .col(timestamp_with_time_zone_null(Destination::LastAttemptAt))
                .col(timestamp_with_time_zone(Destination::CreatedAt))
                .col(timestamp_with_time_zone(Destination::UpdatedAt))
                .foreign_key(&mut cascade(
                    Destination::Table,
                    Destination::TenantId,
                    Tenant::Table,
                    Tenant::Id,
                ))
                .foreign_key(&mut cascade(
                    Destination::Table,
                    Destination::MessageId,
                    Message::Table,
                    Message::Id,
                ))
                .foreign_key(&mut cascade(
                    Destination::Table,
                    Destination::EndpointId,
                    Endpoint::Table,
                    Endpoint::Id,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            Destination::Table,
            "destination_message",
            &[Destination::MessageId, Destination::EndpointId],
            true,
        )
        .await?;
        index(
            m,
            Destination::Table,
            "destination_endpoint_time",
            &[Destination::EndpointId, Destination::Id],
            false,
        )
        .await?;
        index(
            m,
            Destination::Table,
            "destination_due",
            &[Destination::Status, Destination::NextAttemptAt],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Attempt::Table)
                .col(string(Attempt::Id).primary_key())
                .col(string(Attempt::TenantId))
                .col(string(Attempt::AppId))
                .col(string(Attempt::MessageId))
                .col(string(Attempt::EndpointId))
                .col(string(Attempt::DestinationId))
                .col(integer(Attempt::Number))
                .col(string(Attempt::Trigger))
                .col(string(Attempt::Status))
                .col(text(Attempt::Url))
                .col(integer_null(Attempt::ResponseStatus))
                .col(text_null(Attempt::ResponseBody))
                .col(big_integer(Attempt::DurationMs))
                .col(string_null(Attempt::ErrorKind))
                .col(text_null(Attempt::ErrorReason))
                .col(timestamp_with_time_zone_null(Attempt::NextAttemptAt))
                .col(timestamp_with_time_zone(Attempt::CreatedAt))
                .foreign_key(&mut cascade(
                    Attempt::Table,
                    Attempt::TenantId,
                    Tenant::Table,
                    Tenant::Id,
                ))
                .foreign_key(&mut cascade(
                    Attempt::Table,
                    Attempt::DestinationId,
                    Destination::Table,
                    Destination::Id,
                ))
                .foreign_key(&mut cascade(
                    Attempt::Table,
                    Attempt::MessageId,
                    Message::Table,
                    Message::Id,
                ))
                .foreign_key(&mut cascade(
                    Attempt::Table,
                    Attempt::EndpointId,
                    Endpoint::Table,
                    Endpoint::Id,
                ))
                .to_owned(),
        )
        .await?;
        // The delivery log: by endpoint and time, by message, by application and time.
        index(
            m,
            Attempt::Table,
            "attempt_endpoint_time",
            &[Attempt::EndpointId, Attempt::Id],
            false,
        )
        .await?;
        index(
            m,
            Attempt::Table,
            "attempt_message",
            &[Attempt::MessageId, Attempt::Id],
            false,
        )
        .await?;
        index(
            m,
            Attempt::Table,
            "attempt_app_time",
            &[Attempt::AppId, Attempt::Id],
            false,
        )
        .await?;
        index(
            m,
            Attempt::Table,
            "attempt_destination",
            &[Attempt::DestinationId],
            false,
        )
        .await?;
        index(
            m,
            Attempt::Table,
            "attempt_tenant_time",
            &[Attempt::TenantId, Attempt::CreatedAt],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(IdempotencyKey::Table)
                .col(string(IdempotencyKey::TenantId))
                .col(string(IdempotencyKey::Scope))
                .col(string(IdempotencyKey::Key))
                .col(string(IdempotencyKey::RequestHash))
                .col(integer_null(IdempotencyKey::ResponseStatus))
                .col(text_null(IdempotencyKey::ResponseBody))
                .col(timestamp_with_time_zone(IdempotencyKey::CreatedAt))
                .col(timestamp_with_time_zone(IdempotencyKey::ExpiresAt))
                .primary_key(
                    Index::create()
                        .col(IdempotencyKey::TenantId)
                        .col(IdempotencyKey::Scope)
                        .col(IdempotencyKey::Key),
                )
                .foreign_key(&mut cascade(
                    IdempotencyKey::Table,
                    IdempotencyKey::TenantId,
                    Tenant::Table,
                    Tenant::Id,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            IdempotencyKey::Table,
            "idempotency_key_expiry",
            &[IdempotencyKey::ExpiresAt],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvent::Table)
                .col(string(AuditEvent::Id).primary_key())
                .col(string(AuditEvent::TenantId))
                .col(string(AuditEvent::ActorKind))
                .col(string_null(AuditEvent::ActorId))
                .col(string(AuditEvent::ActorLabel))
                .col(string(AuditEvent::Action))
                .col(string(AuditEvent::TargetKind))
                .col(string_null(AuditEvent::TargetId))
                .col(json_binary_null(AuditEvent::Details))
                .col(timestamp_with_time_zone(AuditEvent::CreatedAt))
                .foreign_key(&mut cascade(
                    AuditEvent::Table,
                    AuditEvent::TenantId,
                    Tenant::Table,
                    Tenant::Id,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            AuditEvent::Table,
            "audit_event_tenant_time",
            &[AuditEvent::TenantId, AuditEvent::Id],
            false,
        )
        .await?;

        Ok(())
    }
}

/// A foreign key whose rows go with their parent.
fn cascade<T, C, P, K>(table: T, column: C, parent: P, key: K) -> ForeignKeyCreateStatement
where
    T: IntoIden + 'static,
    C: IntoIden + 'static,
    P: IntoIden + 'static,
    K: IntoIden + 'static,
{
    ForeignKey::create()
        .from(table, column)
        .to(parent, key)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

async fn index<T, C>(
    m: &SchemaManager<'_>,
    table: T,
    name: &str,
    columns: &[C],
    unique: bool,
) -> Result<(), DbErr>
where
    T: IntoIden + 'static,
    C: IntoIden + Clone + 'static,
{
    let mut stmt = Index::create();
    stmt.name(format!("idx_{name}")).table(table);
    for column in columns {
        stmt.col(column.clone());
    }
    if unique {
        stmt.unique();
    }
    m.create_index(stmt).await
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenant {
    Table,
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum User {
    Table,
    Id,
    TenantId,
    Email,
    PasswordHash,
    Role,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiToken {
    Table,
    Id,
    TenantId,
    Name,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Application {
    Table,
    Id,
    TenantId,
    Uid,
    Name,
    RateLimit,
    RetentionDays,
    Metadata,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum EventType {
    Table,
    Id,
    TenantId,
    Name,
    Description,
    Schemas,
    Archived,
    Deprecated,
    FeatureFlag,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Endpoint {
    Table,
    Id,
    TenantId,
    AppId,
    Uid,
    Url,
    Description,
    Disabled,
    DisabledReason,
    FilterTypes,
    Channels,
    RateLimit,
    TimeoutSecs,
    RetrySchedule,
    Headers,
    Metadata,
    FailingSince,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum EndpointSecret {
    Table,
    Id,
    TenantId,
    EndpointId,
    Ciphertext,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Message {
    Table,
    Id,
    TenantId,
    AppId,
    EventId,
    EventType,
    Channels,
    Tags,
    Payload,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Destination {
    Table,
    Id,
    TenantId,
    AppId,
    MessageId,
    EndpointId,
    Status,
    AttemptCount,
    NextAttemptAt,
    LastAttemptAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Attempt {
    Table,
    Id,
    TenantId,
    AppId,
    MessageId,
    EndpointId,
    DestinationId,
    Number,
    Trigger,
    Status,
    Url,
    ResponseStatus,
    ResponseBody,
    DurationMs,
    ErrorKind,
    ErrorReason,
    NextAttemptAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum IdempotencyKey {
    Table,
    TenantId,
    Scope,
    Key,
    RequestHash,
    ResponseStatus,
    ResponseBody,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvent {
    Table,
    Id,
    TenantId,
    ActorKind,
    ActorId,
    ActorLabel,
    Action,
    TargetKind,
    TargetId,
    Details,
    CreatedAt,
}
