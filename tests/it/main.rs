//! Herald's end-to-end tests: one binary, many modules. Each test boots what it needs on
//! a fresh database (SQLite, or PostgreSQL when `HERALD_TEST_DATABASE_URL` is set).

// Tests fail by panicking; helpers here unwrap like test bodies do.
#![allow(clippy::unwrap_used)]

mod api_http;
mod api_sdk;
mod architecture;
mod config;
mod copies;
mod dashboard;
mod delivery;
mod deploy;
mod endpoint_health;
mod first_run;
mod hardening;
mod headers;
mod health;
mod inspector;
mod keys;
mod metrics;
mod migrations;
mod openapi;
mod operational;
mod options;
mod options_pages;
mod programs;
mod queue;
mod relay;
mod retention;
mod scheduling;
mod scoping;
mod secrets;
mod tasks;
mod tokens;
mod upgrade;
mod verification;
mod wakeups;
