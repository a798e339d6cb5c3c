//! `background_task`: the persisted background tasks of Svix's API (`qtask_…`): replaying
//! an endpoint's missing or past messages, recovering its failed deliveries, expunging an
//! application's payloads. A task is `running` until a worker finishes or fails it; a
//! worker holds it under a lease (`claimed_by`, `lease_until`) and saves its progress
//! (`cursor`, the counts in `data`) with every chunk it commits, so a task whose worker
//! died is picked up where it stopped once the lease runs out.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum BackgroundTask {
    Table,
    Id,
    TenantId,
    AppId,
    Task,
    Status,
    Params,
    Data,
    Cursor,
    Error,
    ClaimedBy,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tenant {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Application {
    Table,
    Id,
}

const BY_TENANT: &str = "background_task_tenant_id";
const DUE: &str = "background_task_due";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(BackgroundTask::Table)
                .col(string(BackgroundTask::Id).primary_key())
                .col(string(BackgroundTask::TenantId))
                .col(string_null(BackgroundTask::AppId))
                .col(string(BackgroundTask::Task))
                .col(string(BackgroundTask::Status))
                .col(json_binary(BackgroundTask::Params))
                .col(json_binary(BackgroundTask::Data))
                .col(string_null(BackgroundTask::Cursor))
                .col(text_null(BackgroundTask::Error))
                .col(string_null(BackgroundTask::ClaimedBy))
                .col(timestamp_with_time_zone_null(BackgroundTask::LeaseUntil))
                .col(timestamp_with_time_zone(BackgroundTask::CreatedAt))
                .col(timestamp_with_time_zone(BackgroundTask::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(BackgroundTask::Table, BackgroundTask::TenantId)
                        .to(Tenant::Table, Tenant::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                // A task about an application goes with it (a running one stops).
                .foreign_key(
                    ForeignKey::create()
                        .from(BackgroundTask::Table, BackgroundTask::AppId)
                        .to(Application::Table, Application::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // The tenant's list, newest first.
        m.create_index(
            Index::create()
                .name(BY_TENANT)
                .table(BackgroundTask::Table)
                .col(BackgroundTask::TenantId)
                .col(BackgroundTask::Id)
                .to_owned(),
        )
        .await?;
        // The workers' look for running tasks whose lease ran out.
        m.create_index(
            Index::create()
                .name(DUE)
                .table(BackgroundTask::Table)
                .col(BackgroundTask::Status)
                .col(BackgroundTask::LeaseUntil)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(BackgroundTask::Table).to_owned())
            .await
    }
}
