//! A message may be scheduled (`deliverAt`): its destinations are first due then.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Message {
    Table,
    DeliverAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Message::Table)
                .add_column(timestamp_with_time_zone_null(Message::DeliverAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Message::Table)
                .drop_column(Message::DeliverAt)
                .to_owned(),
        )
        .await
    }
}
