//! `portal_cutoff`: when an application's portal links were all withdrawn
//! (`POST /api/v1/auth/app/{app}/expire-all`). A portal token issued before `issued_before`
//! stops opening the portal at `effective_at` (now, or after the grace the caller gave),
//! and so do the sessions such tokens opened; one issued before `dead_before` (an earlier
//! withdrawal already in force) stays refused whatever grace a later one gives.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PortalCutoff {
    Table,
    AppId,
    TenantId,
    IssuedBefore,
    EffectiveAt,
    DeadBefore,
}

#[derive(DeriveIden)]
enum Application {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PortalCutoff::Table)
                .col(string(PortalCutoff::AppId).primary_key())
                .col(string(PortalCutoff::TenantId))
                .col(timestamp_with_time_zone(PortalCutoff::IssuedBefore))
                .col(timestamp_with_time_zone(PortalCutoff::EffectiveAt))
                .col(timestamp_with_time_zone_null(PortalCutoff::DeadBefore))
                .foreign_key(
                    ForeignKey::create()
                        .from(PortalCutoff::Table, PortalCutoff::AppId)
                        .to(Application::Table, Application::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PortalCutoff::Table).to_owned())
            .await
    }
}
