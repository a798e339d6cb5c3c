//! The REST API driven by the official `svix` Rust SDK, pointed at Herald with nothing but
//! the server URL and the token changed.

mod catalogue;
mod messages;
mod resources;

use std::collections::BTreeSet;

use svix::{
    api::{Svix, SvixOptions},
    models::ApplicationIn,
};
use tests::TestApp;

pub(crate) fn sdk(app: &TestApp, token: &str) -> Svix {
    Svix::new(
        token.to_owned(),
        Some(SvixOptions {
            server_url: Some(app.base_url.clone()),
            num_retries: Some(0),
            ..Default::default()
        }),
    )
}

pub(crate) fn status(error: svix::error::Error) -> u16 {
    match error {
        svix::error::Error::Http(e) => e.status.as_u16(),
        svix::error::Error::Validation(e) => e.status.as_u16(),
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

/// The application `acme` most tests start from.
async fn create_acme(svix: &Svix) {
    svix.application()
        .create(
            ApplicationIn {
                uid: Some("acme".into()),
                ..ApplicationIn::new("Acme".into())
            },
            None,
        )
        .await
        .unwrap();
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}
