//! An email is unique within its tenant, not across tenants. While it was unique across
//! them, adding a team member told the admin whether the address had an account in some
//! other tenant. Sign-in still finds accounts by email (`idx_user_email`), now possibly
//! several.
//!
//! PostgreSQL drops the column's unique constraint. SQLite cannot drop a constraint written
//! into a table, so the table is built again under the same name; the dashboard sessions
//! that point at users are kept aside and put back, because dropping the old table deletes
//! them through their foreign key.

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, DatabaseBackend},
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum User {
    Table,
    Id,
    TenantId,
    Email,
    PasswordHash,
    Role,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum Tenant {
    Table,
    Id,
}

const COLUMNS: &str = "id, tenant_id, email, password_hash, role, created_at, updated_at, last_login_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        match m.get_database_backend() {
            DatabaseBackend::Sqlite => rebuild(m, false).await?,
            _ => {
                m.get_connection()
                    .execute_unprepared(r#"ALTER TABLE "user" DROP CONSTRAINT user_email_key"#)
                    .await?;
            }
        }
        indexes(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Going back needs the old rule to hold: one account per email.
        m.drop_index(
            Index::drop()
                .name("idx_user_tenant_email")
                .table(User::Table)
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name("idx_user_email").table(User::Table).to_owned())
            .await?;
        match m.get_database_backend() {
            DatabaseBackend::Sqlite => {
                rebuild(m, true).await?;
                m.create_index(
                    Index::create()
                        .name("idx_user_tenant")
                        .table(User::Table)
                        .col(User::TenantId)
                        .to_owned(),
                )
                .await
            }
            _ => {
                m.get_connection()
                    .execute_unprepared(r#"ALTER TABLE "user" ADD CONSTRAINT user_email_key UNIQUE (email)"#)
                    .await?;
                Ok(())
            }
        }
    }
}

/// SQLite: the `user` table again, with or without the email unique across tenants, rows
/// and user sessions kept. The indexes on the old table go with it.
async fn rebuild(m: &SchemaManager<'_>, email_unique_everywhere: bool) -> Result<(), DbErr> {
    let conn = m.get_connection();
    let email = if email_unique_everywhere {
        string_uniq(User::Email)
    } else {
        string(User::Email)
    };
    m.create_table(
        Table::create()
            .table(Alias::new("user_rebuilt"))
            .col(string(User::Id).primary_key())
            .col(string(User::TenantId))
            .col(email)
            .col(string(User::PasswordHash))
            .col(string(User::Role))
            .col(timestamp_with_time_zone(User::CreatedAt))
            .col(timestamp_with_time_zone(User::UpdatedAt))
            .col(timestamp_with_time_zone_null(User::LastLoginAt))
            .foreign_key(
                ForeignKey::create()
                    .from(Alias::new("user_rebuilt"), User::TenantId)
                    .to(Tenant::Table, Tenant::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned(),
    )
    .await?;
    for sql in [
        format!(r#"INSERT INTO user_rebuilt ({COLUMNS}) SELECT {COLUMNS} FROM "user""#),
        "CREATE TABLE session_kept AS SELECT * FROM session WHERE user_id IS NOT NULL".to_owned(),
        r#"DROP TABLE "user""#.to_owned(),
        r#"ALTER TABLE user_rebuilt RENAME TO "user""#.to_owned(),
        "INSERT INTO session SELECT * FROM session_kept".to_owned(),
        "DROP TABLE session_kept".to_owned(),
    ] {
        conn.execute_unprepared(&sql).await?;
    }
    Ok(())
}

async fn indexes(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    if m.get_database_backend() == DatabaseBackend::Sqlite {
        m.create_index(
            Index::create()
                .name("idx_user_tenant")
                .table(User::Table)
                .col(User::TenantId)
                .to_owned(),
        )
        .await?;
    }
    m.create_index(
        Index::create()
            .name("idx_user_tenant_email")
            .table(User::Table)
            .col(User::TenantId)
            .col(User::Email)
            .unique()
            .to_owned(),
    )
    .await?;
    m.create_index(
        Index::create()
            .name("idx_user_email")
            .table(User::Table)
            .col(User::Email)
            .to_owned(),
    )
    .await
}
