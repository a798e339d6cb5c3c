//! Inspector inboxes: `inbox`, a URL of Herald's that records what it receives and answers
//! as the tenant says (a status, a body, a delay, or a scripted sequence), and
//! `inbox_request`, the requests it recorded (the newest 200 per inbox are kept).
//!
//! The token in the URL is looked up by its SHA-256 (`token_hash`, unique) and kept sealed
//! under the main key (`token_sealed`), so the tenant can be shown the URL again.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Inbox {
    Table,
    Id,
    TenantId,
    Name,
    TokenHash,
    TokenSealed,
    ResponseStatus,
    ResponseBody,
    ResponseDelayMs,
    Script,
    ScriptCursor,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum InboxRequest {
    Table,
    Id,
    InboxId,
    TenantId,
    Method,
    Path,
    Query,
    Headers,
    Body,
    Truncated,
    ContentType,
    SourceAddress,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum Tenant {
    Table,
    Id,
}

const INBOX_BY_TENANT: &str = "inbox_tenant_id";
const INBOX_TOKEN: &str = "inbox_token_hash";
const INBOX_EXPIRES: &str = "inbox_expires_at";
const REQUEST_BY_INBOX: &str = "inbox_request_inbox_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Inbox::Table)
                .col(string(Inbox::Id).primary_key())
                .col(string(Inbox::TenantId))
                .col(string(Inbox::Name))
                .col(string(Inbox::TokenHash))
                .col(blob(Inbox::TokenSealed))
                .col(integer(Inbox::ResponseStatus))
                .col(text(Inbox::ResponseBody))
                .col(integer(Inbox::ResponseDelayMs))
                .col(json_binary_null(Inbox::Script))
                .col(integer(Inbox::ScriptCursor))
                .col(timestamp_with_time_zone(Inbox::ExpiresAt))
                .col(timestamp_with_time_zone(Inbox::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Inbox::Table, Inbox::TenantId)
                        .to(Tenant::Table, Tenant::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(INBOX_BY_TENANT)
                .table(Inbox::Table)
                .col(Inbox::TenantId)
                .col(Inbox::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(INBOX_TOKEN)
                .table(Inbox::Table)
                .col(Inbox::TokenHash)
                .unique()
                .to_owned(),
        )
        .await?;
        // The retention sweep's look for expired inboxes.
        m.create_index(
            Index::create()
                .name(INBOX_EXPIRES)
                .table(Inbox::Table)
                .col(Inbox::ExpiresAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(InboxRequest::Table)
                .col(string(InboxRequest::Id).primary_key())
                .col(string(InboxRequest::InboxId))
                .col(string(InboxRequest::TenantId))
                .col(string(InboxRequest::Method))
                .col(text(InboxRequest::Path))
                .col(text(InboxRequest::Query))
                .col(json_binary(InboxRequest::Headers))
                .col(blob(InboxRequest::Body))
                .col(boolean(InboxRequest::Truncated))
                .col(string_null(InboxRequest::ContentType))
                .col(string_null(InboxRequest::SourceAddress))
                .col(timestamp_with_time_zone(InboxRequest::ReceivedAt))
                // An inbox's requests go with it.
                .foreign_key(
                    ForeignKey::create()
                        .from(InboxRequest::Table, InboxRequest::InboxId)
                        .to(Inbox::Table, Inbox::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(InboxRequest::Table, InboxRequest::TenantId)
                        .to(Tenant::Table, Tenant::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // An inbox's requests, newest first; and the cut of the oldest beyond the newest 200.
        m.create_index(
            Index::create()
                .name(REQUEST_BY_INBOX)
                .table(InboxRequest::Table)
                .col(InboxRequest::InboxId)
                .col(InboxRequest::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(InboxRequest::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Inbox::Table).to_owned()).await
    }
}
