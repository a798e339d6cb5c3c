//! Delivery options an endpoint may ask for: ordered delivery (`endpoint.ordered`: how its
//! line behaves when a message finally fails), credentials for the receiver's gateway and
//! TLS (`endpoint.access`: what kind and the parts that are not secret;
//! `endpoint.credentials`: the secret parts, sealed under the main key), and one `delivery_lane` row per endpoint
//! that is paced or ordered, which claims lock to take turns on that endpoint: when it may
//! next be sent to (its rate) and which failed message stopped its line, if one did.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Endpoint {
    Table,
    Id,
    Ordered,
    Access,
    Credentials,
}

#[derive(DeriveIden)]
enum Destination {
    Table,
    Paced,
}

#[derive(DeriveIden)]
enum DeliveryLane {
    Table,
    EndpointId,
    NextSendAt,
    StoppedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            string_null(Endpoint::Ordered),
            json_binary_null(Endpoint::Access),
            blob_null(Endpoint::Credentials),
        ] {
            let mut column = column;
            m.alter_table(
                Table::alter()
                    .table(Endpoint::Table)
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        // Whether a destination's endpoint takes turns (a rate or a line): set when it is
        // written and whenever its endpoint changes, so that the indexes below hold only
        // such destinations and cost nothing to everyone else.
        m.alter_table(
            Table::alter()
                .table(Destination::Table)
                .add_column(boolean(Destination::Paced).default(false))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(DeliveryLane::Table)
                .col(string(DeliveryLane::EndpointId).primary_key())
                .col(timestamp_with_time_zone_null(DeliveryLane::NextSendAt))
                .col(string_null(DeliveryLane::StoppedBy))
                .foreign_key(
                    ForeignKey::create()
                        .from(DeliveryLane::Table, DeliveryLane::EndpointId)
                        .to(Endpoint::Table, Endpoint::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        // The line of an endpoint: its unfinished destinations in acceptance order, so the
        // head is the first entry.
        db.execute_unprepared(
            "CREATE INDEX idx_destination_line ON destination (endpoint_id, message_id) \
             WHERE paced AND status IN ('pending', 'sending')",
        )
        .await?;
        // Whether an endpoint has anything due, and its due work in due order.
        db.execute_unprepared(
            "CREATE INDEX idx_destination_endpoint_due ON destination (endpoint_id, next_attempt_at) \
             WHERE paced AND status IN ('pending', 'sending')",
        )
        .await?;
        // The few endpoints whose deliveries take turns.
        db.execute_unprepared(
            "CREATE INDEX idx_endpoint_paced ON endpoint (id) \
             WHERE rate_limit > 0 OR ordered IS NOT NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for index in [
            "idx_endpoint_paced",
            "idx_destination_endpoint_due",
            "idx_destination_line",
        ] {
            db.execute_unprepared(&format!("DROP INDEX {index}")).await?;
        }
        m.drop_table(Table::drop().table(DeliveryLane::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Destination::Table)
                .drop_column(Destination::Paced)
                .to_owned(),
        )
        .await?;
        for column in [Endpoint::Credentials, Endpoint::Access, Endpoint::Ordered] {
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
