//! Which endpoints a message goes to: those subscribed to its event type and channels
//! ([`endpoint_wants`]) whose jq filters let it through ([`Filters`]), and which of them
//! this process's worker may be handed at once.

use std::{collections::HashMap, sync::Arc};

use sea_orm::{ColumnTrait, QueryFilter};

use crate::{
    Context, DbContext, Result,
    entity::{FilteredBy, FilteredOut, StringList, endpoint, message},
    id::{EndpointId, TenantId},
    program::{self, Program},
    scope::TenantScoped,
    service::application,
    values::{Channels, EventTypeName},
};

/// Does `endpoint` want a message of `event_type` on `channels`? Enabled, the event type in
/// its filter (or no filter), and, if it listens to channels, one of them on the message.
pub fn endpoint_wants(endpoint: &endpoint::Model, event_type: &str, channels: Option<&[String]>) -> bool {
    if endpoint.disabled {
        return false;
    }
    if let Some(filter) = &endpoint.filter_types
        && !filter.0.iter().any(|t| t == event_type)
    {
        return false;
    }
    match &endpoint.channels {
        None => true,
        Some(wanted) => channels.is_some_and(|sent| sent.iter().any(|c| wanted.0.contains(c))),
    }
}

/// The compiled filters of an application's endpoints, by endpoint id. A stored source
/// that no longer compiles (it was saved by another version of Herald) filters every
/// message out, saying why.
#[derive(Clone, Debug, Default)]
pub struct Filters(HashMap<EndpointId, std::result::Result<Program, String>>);

impl Filters {
    /// Compiles the filters of `endpoints`.
    pub fn of(endpoints: &[endpoint::Model]) -> Self {
        Self(
            endpoints
                .iter()
                .filter_map(|ep| {
                    let source = ep.filter.as_deref()?;
                    let compiled =
                        Program::shared(source).map_err(|e| format!("the filter does not compile: {e}"));
                    Some((ep.id.clone(), compiled))
                })
                .collect(),
        )
    }

    /// Keeps the endpoints of `wanted` whose filters let `msg` through (all of them run
    /// in one hand-over to the program runners) and records on `msg` the others and why.
    pub(crate) async fn apply<'e>(
        &self,
        msg: &mut message::Model,
        wanted: Vec<&'e endpoint::Model>,
    ) -> Vec<&'e endpoint::Model> {
        if self.0.is_empty() || !wanted.iter().any(|ep| self.0.contains_key(&ep.id)) {
            return wanted;
        }
        let input: Arc<str> = Arc::from(filter_input(msg));
        let mut jobs = Vec::new();
        let mut verdicts: Vec<Option<std::result::Result<(), String>>> = Vec::with_capacity(wanted.len());
        for ep in &wanted {
            match self.0.get(&ep.id) {
                None => verdicts.push(Some(Ok(()))),
                Some(Err(e)) => verdicts.push(Some(Err(e.clone()))),
                Some(Ok(program)) => {
                    jobs.push((program.clone(), Arc::clone(&input)));
                    verdicts.push(None);
                }
            }
        }
        let mut runs = program::run_all(jobs).await.into_iter();
        let mut kept = Vec::with_capacity(wanted.len());
        let mut filtered = Vec::new();
        for (ep, verdict) in wanted.into_iter().zip(verdicts) {
            let verdict = verdict.unwrap_or_else(|| match runs.next() {
                Some(Ok(output)) if program::truthy(output.as_deref()) => Ok(()),
                Some(Ok(None)) => Err("the filter gave no output".to_owned()),
                Some(Ok(Some(output))) => Err(format!("the filter gave {output}")),
                Some(Err(failure)) => Err(failure.to_string()),
                None => Err("the filter did not run".to_owned()),
            });
            match verdict {
                Ok(()) => kept.push(ep),
                Err(reason) => filtered.push(FilteredBy {
                    endpoint_id: ep.id.to_string(),
                    reason,
                }),
            }
        }
        if !filtered.is_empty() {
            msg.filtered = Some(FilteredOut(filtered));
        }
        kept
    }
}

/// What a filter reads: `{eventType, channels, payload, tags}` (channels and tags are
/// `[]` when the message has none).
pub fn filter_input(msg: &message::Model) -> String {
    let list = |l: &Option<StringList>| serde_json::to_string(&l.as_ref().map_or(&[][..], |l| &l.0[..]));
    format!(
        r#"{{"eventType":{},"channels":{},"payload":{},"tags":{}}}"#,
        serde_json::Value::from(msg.event_type.as_str()),
        list(&msg.channels).unwrap_or_else(|_| "[]".into()),
        msg.payload.as_deref().unwrap_or("null"),
        list(&msg.tags).unwrap_or_else(|_| "[]".into()),
    )
}

/// Puts the endpoints whose deliveries may be handed to this process's worker first and
/// says how many they are: not those with a rate or a line, whose turns only a claim may
/// give (see `delivery::lane`), and none of a scheduled message, which is not due yet.
pub(super) fn handed_over(msg: &message::Model, wanted: &mut [&endpoint::Model]) -> usize {
    if msg.deliver_at.is_some() {
        return 0;
    }
    wanted.sort_by_key(|ep| ep.paced());
    wanted.iter().take_while(|ep| !ep.paced()).count()
}

/// Would a message of `event_type` on `channels` go to any endpoint of the application
/// now? Svix's precheck, asked before building an expensive payload. Payload filters are
/// not asked: there is no payload yet.
pub async fn precheck(
    ctx: &Context,
    tenant: &TenantId,
    app_id_or_uid: &str,
    event_type: &EventTypeName,
    channels: Option<&Channels>,
) -> Result<bool> {
    let app = application::find(&ctx.db, tenant, app_id_or_uid).await?;
    let channels = channels.map(Channels::to_strings);
    let endpoints = endpoint::Entity::for_tenant(tenant)
        .filter(endpoint::Column::AppId.eq(app.id))
        .filter(endpoint::Column::Disabled.eq(false))
        .all(&ctx.db)
        .await
        .context("loading an application's endpoints")?;
    Ok(endpoints
        .iter()
        .any(|ep| endpoint_wants(ep, event_type.as_str(), channels.as_deref())))
}
