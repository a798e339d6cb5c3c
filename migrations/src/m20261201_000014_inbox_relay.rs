//! `herald listen` relays an inbox's requests to a developer's machine: `inbox.listened_at`
//! says when a listener last asked for requests (a request arriving soon after is relayed,
//! not answered by the inbox itself), and `inbox_request.relay_state` walks a relayed
//! request from `waiting` (for a listener) to `forwarding` (claimed by one) to `answered`
//! (with the local server's `relay_status` and `relay_body`), or `expired` when its sender
//! stopped waiting.
//!
//! One column per `ALTER TABLE`: SQLite adds no more at a time.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Inbox {
    Table,
    ListenedAt,
}

#[derive(DeriveIden)]
enum InboxRequest {
    Table,
    RelayState,
    RelayStatus,
    RelayBody,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Inbox::Table)
                .add_column(timestamp_with_time_zone_null(Inbox::ListenedAt))
                .to_owned(),
        )
        .await?;
        for column in [
            string_null(InboxRequest::RelayState),
            integer_null(InboxRequest::RelayStatus),
            text_null(InboxRequest::RelayBody),
        ] {
            m.alter_table(
                Table::alter()
                    .table(InboxRequest::Table)
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            InboxRequest::RelayState,
            InboxRequest::RelayStatus,
            InboxRequest::RelayBody,
        ] {
            m.alter_table(
                Table::alter()
                    .table(InboxRequest::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Inbox::Table)
                .drop_column(Inbox::ListenedAt)
                .to_owned(),
        )
        .await
    }
}
