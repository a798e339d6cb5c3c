//! Idempotent answers sealed under the main key: `idempotency_key.response_sealed` holds
//! the replayed body, sealed with the row's tenant, scope and key as associated data, and
//! the plaintext `response_body` goes. A rotate or portal-access answer carries a secret;
//! none may rest readable for the twelve hours an answer is kept.
//!
//! Answers kept before this migration were plaintext and cannot be sealed here (the
//! migration has no main key): they are dropped, so a retry of such a request within its
//! twelve hours does the work again.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKey {
    Table,
    ResponseBody,
    ResponseSealed,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DELETE FROM idempotency_key WHERE response_body IS NOT NULL")
            .await?;
        m.alter_table(
            Table::alter()
                .table(IdempotencyKey::Table)
                .add_column(blob_null(IdempotencyKey::ResponseSealed))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(IdempotencyKey::Table)
                .drop_column(IdempotencyKey::ResponseBody)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DELETE FROM idempotency_key WHERE response_sealed IS NOT NULL")
            .await?;
        m.alter_table(
            Table::alter()
                .table(IdempotencyKey::Table)
                .add_column(text_null(IdempotencyKey::ResponseBody))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(IdempotencyKey::Table)
                .drop_column(IdempotencyKey::ResponseSealed)
                .to_owned(),
        )
        .await
    }
}
