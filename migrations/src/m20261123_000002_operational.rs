//! Operational webhooks: each tenant may have one hidden application whose endpoints
//! receive Herald's own events about deliveries (`message.attempt.exhausted`,
//! `endpoint.disabled`, ...). The REST API's application routes never show it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Application {
    Table,
    Operational,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Application::Table)
                .add_column(boolean(Application::Operational).default(false))
                .to_owned(),
        )
        .await?;
        // At most one operational application per tenant. A partial index, written out:
        // sea-query's index builder has no WHERE; both databases accept this text.
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX application_operational ON application (tenant_id) WHERE operational",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DROP INDEX application_operational")
            .await?;
        m.alter_table(
            Table::alter()
                .table(Application::Table)
                .drop_column(Application::Operational)
                .to_owned(),
        )
        .await
    }
}
