//! jq programs on endpoints (issue 18): `endpoint.filter` and `endpoint.transformation`
//! hold their sources (compiled when saved and again when read); `message.filtered` says
//! which endpoints' filters kept the message from them and why; `attempt.request` is the
//! exact request a transformation shaped (method, URL, headers, body).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Endpoint {
    Table,
    Filter,
    Transformation,
}

#[derive(DeriveIden)]
enum Message {
    Table,
    Filtered,
}

#[derive(DeriveIden)]
enum Attempt {
    Table,
    Request,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for mut column in [text_null(Endpoint::Filter), text_null(Endpoint::Transformation)] {
            m.alter_table(
                Table::alter()
                    .table(Endpoint::Table)
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Message::Table)
                .add_column(json_binary_null(Message::Filtered))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Attempt::Table)
                .add_column(json_binary_null(Attempt::Request))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Attempt::Table)
                .drop_column(Attempt::Request)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Message::Table)
                .drop_column(Message::Filtered)
                .to_owned(),
        )
        .await?;
        for column in [Endpoint::Transformation, Endpoint::Filter] {
            m.alter_table(
                Table::alter()
                    .table(Endpoint::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
