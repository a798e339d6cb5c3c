//! Event types get the SDKs' `groupName` and `featureFlags` (a set). The single
//! `feature_flag` of before becomes a set of one, and its column goes.

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, DatabaseBackend},
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum EventType {
    Table,
    FeatureFlag,
    FeatureFlags,
    GroupName,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            json_binary_null(EventType::FeatureFlags),
            string_null(EventType::GroupName),
        ] {
            m.alter_table(
                Table::alter()
                    .table(EventType::Table)
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        let as_set = match m.get_database_backend() {
            DatabaseBackend::Postgres => "jsonb_build_array(feature_flag)",
            _ => "json_array(feature_flag)",
        };
        m.get_connection()
            .execute_unprepared(&format!(
                "UPDATE event_type SET feature_flags = {as_set} WHERE feature_flag IS NOT NULL"
            ))
            .await?;
        m.alter_table(
            Table::alter()
                .table(EventType::Table)
                .drop_column(EventType::FeatureFlag)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(EventType::Table)
                .add_column(string_null(EventType::FeatureFlag))
                .to_owned(),
        )
        .await?;
        let first = match m.get_database_backend() {
            DatabaseBackend::Postgres => "feature_flags->>0",
            _ => "json_extract(feature_flags, '$[0]')",
        };
        m.get_connection()
            .execute_unprepared(&format!(
                "UPDATE event_type SET feature_flag = {first} WHERE feature_flags IS NOT NULL"
            ))
            .await?;
        for column in [EventType::FeatureFlags, EventType::GroupName] {
            m.alter_table(
                Table::alter()
                    .table(EventType::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
