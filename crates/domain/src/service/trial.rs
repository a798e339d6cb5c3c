//! "Try it" for an endpoint's programs before they are saved: a filter and a
//! transformation run over a recent message of the application or over an event type's
//! example, with the same limits as at acceptance and delivery. Nothing is written.

use chrono::Utc;

use super::{
    delivery::transform::{self, Shaped},
    event_type,
    message::{self as messages, MessageFilter},
};
use crate::{
    Context, Error, Result,
    entity::{StringList, endpoint, message},
    id::{AppId, MessageId, TenantId},
    pagination::PageRequest,
    program::{self, Program},
};

/// Recent messages offered as samples.
const RECENT: u64 = 10;

/// A sample a person can pick: `msg:<id>` or `example:<event type>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleChoice {
    pub key: String,
    pub label: String,
}

/// The samples for `endpoint`: the application's recent messages, then an example of
/// every event type (the example of its schema, or a small stand-in).
pub async fn samples(
    ctx: &Context,
    tenant: &TenantId,
    endpoint: &endpoint::Model,
) -> Result<Vec<SampleChoice>> {
    let recent = messages::list(
        ctx,
        tenant,
        &endpoint.app_id,
        &PageRequest {
            limit: RECENT,
            ..PageRequest::default()
        },
        &MessageFilter::default(),
    )
    .await?;
    let mut choices: Vec<SampleChoice> = recent
        .data
        .into_iter()
        .map(|m| SampleChoice {
            key: format!("msg:{}", m.id),
            label: format!(
                "{} · {} · {}",
                m.event_type,
                m.id,
                m.created_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        })
        .collect();
    let types = event_type::list(
        &ctx.db,
        tenant,
        &PageRequest {
            limit: 100,
            ..PageRequest::default()
        },
        false,
    )
    .await?;
    choices.extend(types.data.into_iter().map(|t| SampleChoice {
        key: format!("example:{}", t.name),
        label: format!("example of {}", t.name),
    }));
    Ok(choices)
}

/// The message a sample key stands for (an example is a message that was never sent).
pub async fn sample(ctx: &Context, tenant: &TenantId, app: &AppId, key: &str) -> Result<message::Model> {
    if let Some(id) = key.strip_prefix("msg:") {
        MessageId::parse(id).map_err(|_| Error::invalid("sample", "is not a message of this application"))?;
        return messages::find(&ctx.db, tenant, app, id).await;
    }
    let Some(name) = key.strip_prefix("example:") else {
        return Err(Error::invalid("sample", "pick a message or an event type"));
    };
    let found = event_type::find(&ctx.db, tenant, name).await?;
    // The same example `send-example` sends.
    let payload = event_type::example(found.schemas.as_ref(), 0)
        .unwrap_or_else(|| serde_json::json!({"type": found.name, "test": true}))
        .to_string();
    Ok(message::Model {
        id: MessageId::new(),
        tenant_id: tenant.clone(),
        app_id: app.clone(),
        event_id: None,
        event_type: found.name,
        channels: None,
        tags: None::<StringList>,
        payload: Some(payload),
        deliver_at: None,
        created_at: Utc::now(),
        filtered: None,
    })
}

/// What a filter says about a sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Matched,
    /// Not matched, and why (its output, an error, a limit).
    NotMatched(String),
}

/// The outcome of trying an endpoint's programs on one sample.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trial {
    pub filter: Option<Verdict>,
    pub transformation: Option<std::result::Result<Shaped, String>>,
}

/// Runs `filter` and `transformation` (either may be absent) over `msg` for an endpoint
/// at `url`.
pub async fn run(
    filter: Option<&Program>,
    transformation: Option<&Program>,
    msg: &message::Model,
    url: &str,
) -> Trial {
    let filter = match filter {
        None => None,
        Some(program) => Some(
            match program::run_one(program, &messages::filter_input(msg)).await {
                Ok(output) if program::truthy(output.as_deref()) => Verdict::Matched,
                Ok(None) => Verdict::NotMatched("the filter gave no output".to_owned()),
                Ok(Some(output)) => Verdict::NotMatched(format!("the filter gave {output}")),
                Err(failure) => Verdict::NotMatched(failure.to_string()),
            },
        ),
    };
    let transformation = match transformation {
        None => None,
        Some(program) => Some(transform::shape(program, msg, url).await),
    };
    Trial {
        filter,
        transformation,
    }
}
