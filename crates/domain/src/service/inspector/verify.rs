//! The Standard Webhooks verdict on a recorded request: signed by one of an endpoint's
//! keys (its current and earlier ones), or by a key the tenant pastes.

use chrono::Duration;
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};

use crate::{
    Context, DbContext, Error, Result,
    entity::{endpoint, endpoint_secret},
    id::{EndpointId, TenantId},
    scope::TenantScoped,
    service::endpoint_secret::open,
    signing::{self, Rejection, SigningSecret},
};

/// Which key to check a request against.
#[derive(Clone, Debug)]
pub enum Key {
    /// Every key an endpoint of the tenant has had.
    Endpoint(String),
    Secret(SigningSecret),
}

/// Valid with what the request says of itself, or why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid { msg_id: String, timestamp: i64 },
    Invalid(Rejection),
}

/// Checks request `request_id` of inbox `inbox_id` as a receiver would have when it
/// arrived: the timestamp is judged against the time it was received.
pub async fn verify(
    ctx: &Context,
    tenant: &TenantId,
    inbox_id: &str,
    request_id: &str,
    key: Key,
) -> Result<Verdict> {
    let request = super::request(ctx, tenant, inbox_id, request_id).await?;
    let keys = match key {
        Key::Secret(secret) => vec![secret],
        Key::Endpoint(id) => {
            let id = EndpointId::parse(&id).map_err(|_| Error::NotFound("endpoint"))?;
            let endpoint = endpoint::Entity::find_in_tenant(tenant, id)
                .one(&ctx.db)
                .await
                .context("loading an endpoint")?
                .ok_or(Error::NotFound("endpoint"))?;
            endpoint_secret::Entity::for_tenant(tenant)
                .filter(endpoint_secret::Column::EndpointId.eq(endpoint.id))
                .order_by_desc(endpoint_secret::Column::Id)
                .all(&ctx.db)
                .await
                .context("loading endpoint secrets")?
                .iter()
                .map(|row| open(ctx, row))
                .collect::<Result<Vec<_>>>()?
        }
    };
    let header = |name: &str| request.headers.get(name);
    let tolerance: Duration = signing::DEFAULT_TOLERANCE;
    let mut rejection = Rejection::NoMatch;
    for key in &keys {
        match signing::verify(key, header, &request.body, request.received_at, tolerance) {
            Ok(v) => {
                return Ok(Verdict::Valid {
                    msg_id: v.msg_id.to_owned(),
                    timestamp: v.timestamp,
                });
            }
            // A key that matched says more (stale, ahead) than one that did not.
            Err(Rejection::NoMatch) => {}
            Err(other) => rejection = other,
        }
    }
    Ok(Verdict::Invalid(rejection))
}
