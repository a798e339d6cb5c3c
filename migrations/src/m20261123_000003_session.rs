//! Dashboard and portal sessions. A row is keyed by the SHA-256 of the cookie's random
//! token, so a copy of the table signs nobody in. A user session names its user; a portal
//! session names the one application its customer may see.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Session {
    Table,
    Id,
    TenantId,
    UserId,
    AppId,
    ReadOnly,
    Csrf,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Tenant {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
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
        let cascade = |column: Session, parent: DynIden, key: DynIden| {
            ForeignKey::create()
                .from(Session::Table, column)
                .to(parent, key)
                .on_delete(ForeignKeyAction::Cascade)
                .to_owned()
        };
        m.create_table(
            Table::create()
                .table(Session::Table)
                .col(string(Session::Id).primary_key())
                .col(string(Session::TenantId))
                .col(string_null(Session::UserId))
                .col(string_null(Session::AppId))
                .col(boolean(Session::ReadOnly).default(false))
                .col(string(Session::Csrf))
                .col(timestamp_with_time_zone(Session::CreatedAt))
                .col(timestamp_with_time_zone(Session::ExpiresAt))
                .foreign_key(&mut cascade(
                    Session::TenantId,
                    Tenant::Table.into_iden(),
                    Tenant::Id.into_iden(),
                ))
                .foreign_key(&mut cascade(
                    Session::UserId,
                    User::Table.into_iden(),
                    User::Id.into_iden(),
                ))
                .foreign_key(&mut cascade(
                    Session::AppId,
                    Application::Table.into_iden(),
                    Application::Id.into_iden(),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("session_expires")
                .table(Session::Table)
                .col(Session::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Session::Table).to_owned()).await
    }
}
