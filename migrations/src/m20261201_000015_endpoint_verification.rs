//! Endpoint verification: an application may require its endpoints to prove they want its
//! traffic (`application.require_endpoint_verification`; new applications take the
//! tenant's `tenant.require_endpoint_verification` unless told otherwise). Such an endpoint, when made or
//! when its URL changes, is `pending` (`endpoint.verification`) until it echoes the
//! `verification_challenge` Herald posts to it; then `verified`, or `failed` after the
//! last of its tries (`verification_tries`, `verification_error`). `verification_due_at`
//! is when the next challenge goes out (null when none is due); workers find due ones
//! through its index. Null `verification` means none was asked for.
//!
//! One column per `ALTER TABLE`: SQLite adds no more at a time.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Tenant {
    Table,
    RequireEndpointVerification,
}

#[derive(DeriveIden)]
enum Application {
    Table,
    RequireEndpointVerification,
}

#[derive(DeriveIden)]
enum Endpoint {
    Table,
    Verification,
    VerificationChallenge,
    VerificationTries,
    VerificationDueAt,
    VerificationError,
    VerifiedAt,
}

const ENDPOINT_VERIFICATION_DUE: &str = "endpoint_verification_due_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Tenant::Table)
                .add_column(boolean(Tenant::RequireEndpointVerification).default(false))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Application::Table)
                .add_column(boolean(Application::RequireEndpointVerification).default(false))
                .to_owned(),
        )
        .await?;
        for column in [
            string_null(Endpoint::Verification),
            string_null(Endpoint::VerificationChallenge),
            integer(Endpoint::VerificationTries).default(0).to_owned(),
            timestamp_with_time_zone_null(Endpoint::VerificationDueAt),
            text_null(Endpoint::VerificationError),
            timestamp_with_time_zone_null(Endpoint::VerifiedAt),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Endpoint::Table)
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name(ENDPOINT_VERIFICATION_DUE)
                .table(Endpoint::Table)
                .col(Endpoint::VerificationDueAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name(ENDPOINT_VERIFICATION_DUE)
                .table(Endpoint::Table)
                .to_owned(),
        )
        .await?;
        for column in [
            Endpoint::Verification,
            Endpoint::VerificationChallenge,
            Endpoint::VerificationTries,
            Endpoint::VerificationDueAt,
            Endpoint::VerificationError,
            Endpoint::VerifiedAt,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Endpoint::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Application::Table)
                .drop_column(Application::RequireEndpointVerification)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Tenant::Table)
                .drop_column(Tenant::RequireEndpointVerification)
                .to_owned(),
        )
        .await
    }
}
