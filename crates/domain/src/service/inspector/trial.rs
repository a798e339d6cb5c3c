//! A first try in two minutes: a new inbox, an endpoint of an application that delivers
//! to it, and a test event sent there, so a tenant sees a signed request arrive without
//! running a receiver of its own.

use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{DEFAULT_EXPIRY, Inbox, MAX_NAME_LEN, NewInbox, Response};
use crate::{
    Context, DbContext, Result,
    entity::{endpoint, message},
    id::TenantId,
    scope::TenantScoped,
    service::{
        application,
        audit::Actor,
        endpoint::{self as endpoints, NewEndpoint},
        event_type, message as messages,
    },
    values::{EndpointUrl, EventTypeFilter, EventTypeName},
};

/// What a try made.
#[derive(Clone, Debug)]
pub struct Trial {
    pub inbox: Inbox,
    pub endpoint: endpoint::Model,
    pub message: message::Model,
}

/// `text` cut to the longest inbox name, on a character boundary.
fn name_of(text: &str) -> String {
    text.chars().take(MAX_NAME_LEN).collect()
}

/// Makes an inbox, an endpoint of application `app` that delivers to it, and sends it a
/// test event of type `event_type`. With `like` (an endpoint of `app`, by id or uid) the
/// new endpoint is named after it and subscribes to the same event types and channels;
/// without, to everything.
///
/// Everything a caller can get wrong (the event type, the application, the endpoint, its
/// event types since archived, a public URL that is no endpoint URL) is checked before
/// anything is written, so a refused try leaves nothing behind. The three writes are
/// the services' own, each in its own transaction; should the endpoint fail to be made
/// all the same, the inbox goes again.
pub async fn to_new_inbox(
    ctx: &Context,
    tenant: &TenantId,
    app: &str,
    like: Option<&str>,
    event_type: &str,
    actor: &Actor,
) -> Result<Trial> {
    let event_type = EventTypeName::parse_field("event_type", event_type.trim())?;
    let app = application::find(&ctx.db, tenant, app).await?;
    let like = match like {
        Some(id) => Some(endpoints::find(&ctx.db, tenant, &app.id, id).await?),
        None => None,
    };
    let (types, channels) = match &like {
        Some(ep) => (
            EventTypeFilter::parse(&ep.filter_types.as_ref().map(|t| t.0.clone()).unwrap_or_default())?,
            endpoints::parse_channels(&ep.channels.as_ref().map(|c| c.0.clone()).unwrap_or_default())?,
        ),
        None => (None, None),
    };
    if let Some(types) = &types {
        event_type::require_live(&ctx.db, tenant, "event_types", types.names()).await?;
    }
    // The inbox's URL differs from this one only in its token's value.
    EndpointUrl::parse(&format!(
        "{}/in/{}",
        ctx.settings.public_url,
        "0".repeat(2 * super::TOKEN_BYTES)
    ))?;
    let (inbox_name, description) = match &like {
        Some(ep) => {
            let what = if ep.description.trim().is_empty() {
                &ep.url
            } else {
                &ep.description
            };
            (
                format!("Test of {what}"),
                format!("Inspector inbox for {} ({what})", ep.id),
            )
        }
        None => (
            format!("Test of {}", app.name),
            "Inspector inbox: a first try".to_owned(),
        ),
    };

    let inbox = super::create(
        ctx,
        tenant,
        NewInbox {
            name: name_of(&inbox_name),
            response: Response::default(),
            script: None,
            expires_in: DEFAULT_EXPIRY,
        },
    )
    .await?;
    let mut new = NewEndpoint::at(EndpointUrl::parse(&inbox.url(ctx))?);
    new.settings.description = description;
    new.settings.event_types = types;
    new.settings.channels = channels;
    let endpoint = match endpoints::create(ctx, tenant, app.id.as_str(), new, actor).await {
        Ok(endpoint) => endpoint,
        Err(e) => {
            if let Err(undone) = super::delete(ctx, tenant, inbox.model.id.as_str()).await {
                tracing::warn!(error = %undone.chain(), "removing the inbox of a failed try");
            }
            return Err(e);
        }
    };
    let message = messages::send_test(ctx, tenant, &endpoint, event_type, actor).await?;
    Ok(Trial {
        inbox,
        endpoint,
        message,
    })
}

/// The most endpoints [`endpoints_for`] lists.
const LISTED_ENDPOINTS: usize = 100;

/// Whether an endpoint's URL is the inbox's, or below it.
fn delivers_to(endpoint: &str, inbox: &str) -> bool {
    endpoint
        .strip_prefix(inbox)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
}

/// Endpoints of the tenant to check an inbox's requests against: those that deliver to
/// `url` (the inbox's) first, then the newest others, [`LISTED_ENDPOINTS`] at most.
pub async fn endpoints_for(ctx: &Context, tenant: &TenantId, url: &str) -> Result<Vec<endpoint::Model>> {
    let limit = LISTED_ENDPOINTS as u64;
    // Operational endpoints are Herald's own to the tenant, not pages of an application.
    let operational = crate::service::application::operational(&ctx.db, tenant)
        .await?
        .map(|app| app.id);
    let listed = |ep: &endpoint::Model| Some(&ep.app_id) != operational.as_ref();
    // `LIKE` reads `_` and `%` in the URL as wildcards: the exact test follows.
    let mut found: Vec<endpoint::Model> = endpoint::Entity::for_tenant(tenant)
        .filter(endpoint::Column::Url.starts_with(url))
        .order_by_desc(endpoint::Column::Id)
        .limit(limit)
        .all(&ctx.db)
        .await
        .context("loading the endpoints of an inbox")?
        .into_iter()
        .filter(|ep| listed(ep) && delivers_to(&ep.url, url))
        .collect();
    let others = endpoint::Entity::for_tenant(tenant)
        .order_by_desc(endpoint::Column::Id)
        .limit(limit)
        .all(&ctx.db)
        .await
        .context("loading endpoints")?;
    for ep in others.into_iter().filter(|ep| listed(ep)) {
        if !found.iter().any(|f| f.id == ep.id) {
            found.push(ep);
        }
    }
    found.truncate(LISTED_ENDPOINTS);
    Ok(found)
}

/// Whether `endpoint` delivers to `inbox`.
pub fn delivers_to_inbox(ctx: &Context, endpoint: &endpoint::Model, inbox: &Inbox) -> bool {
    delivers_to(&endpoint.url, &inbox.url(ctx))
}
