//! Herald's schema as sea-orm migrations. Every migration runs unchanged on SQLite and
//! PostgreSQL: only portable column types, and indexes for the queries the delivery log
//! makes.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_core;
mod m20261123_000002_operational;
mod m20261123_000003_session;
mod m20261130_000004_delivery_queue;
mod m20261130_000005_delivery_options;
mod m20261130_000006_sealed_idempotency;
mod m20261130_000007_user_email_per_tenant;
mod m20261130_000008_endpoint_programs;
mod m20261130_000009_portal_cutoff;
mod m20261130_000010_event_type_groups;
mod m20261201_000011_background_tasks;
mod m20261201_000012_message_deliver_at;
mod m20261201_000013_inspector;
mod m20261201_000014_inbox_relay;
mod m20261201_000015_endpoint_verification;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_core::Migration),
            Box::new(m20261123_000002_operational::Migration),
            Box::new(m20261123_000003_session::Migration),
            Box::new(m20261130_000004_delivery_queue::Migration),
            Box::new(m20261130_000005_delivery_options::Migration),
            Box::new(m20261130_000006_sealed_idempotency::Migration),
            Box::new(m20261130_000007_user_email_per_tenant::Migration),
            Box::new(m20261130_000008_endpoint_programs::Migration),
            Box::new(m20261130_000009_portal_cutoff::Migration),
            Box::new(m20261130_000010_event_type_groups::Migration),
            Box::new(m20261201_000011_background_tasks::Migration),
            Box::new(m20261201_000012_message_deliver_at::Migration),
            Box::new(m20261201_000013_inspector::Migration),
            Box::new(m20261201_000014_inbox_relay::Migration),
            Box::new(m20261201_000015_endpoint_verification::Migration),
        ]
    }
}
