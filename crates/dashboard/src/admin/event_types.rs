//! The tenant's event types: the list (archived ones apart), one event type with its
//! schema and an example, and the forms that create, change and archive them.

use actix_web::{HttpRequest, http::StatusCode, web};
use askama::Template;
use domain::{
    Error,
    entity::event_type,
    pagination::{Order, PageRequest},
    service::event_type::{self as event_types, EventTypeChanges, NewEventType},
    values::EventTypeName,
};
use serde::Deserialize;

use crate::{
    error::see_other,
    form::{Csrf, Errors, Page, check, html, param},
    paging::Pager,
    session::Signed,
    view::Chrome,
};

pub(crate) struct EventTypeRow {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) archived: bool,
    pub(crate) link: String,
}

#[derive(Template)]
#[template(path = "event_types.html")]
struct EventTypesPage {
    page: Chrome,
    editing: bool,
    types: Vec<EventTypeRow>,
    archived: bool,
    pager: Pager,
    form: EventTypeForm,
    errors: Errors,
}

#[derive(Deserialize, Default)]
pub(crate) struct EventTypesQuery {
    #[serde(default)]
    archived: Option<String>,
    iterator: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct EventTypeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    /// JSON Schema of version 1, as text.
    #[serde(default)]
    pub(crate) schema: String,
}

fn parse_schema(text: &str) -> Result<Option<serde_json::Value>, Error> {
    match text.trim() {
        "" => Ok(None),
        text => {
            let schema: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| Error::invalid("schema", format!("is not JSON: {e}")))?;
            if !schema.is_object() {
                return Err(Error::invalid("schema", "must be a JSON object (a JSON Schema)"));
            }
            event_types::parse_schemas(serde_json::json!({ "1": schema }))
        }
    }
}

async fn event_types_page(
    signed: &Signed,
    query: &EventTypesQuery,
    form: EventTypeForm,
    errors: Errors,
    status: StatusCode,
) -> Page {
    let archived = query.archived.is_some();
    let request = PageRequest::parse(Some(50), query.iterator.as_deref(), Order::Ascending, |k| {
        EventTypeName::parse(k).is_ok()
    })?;
    let found = event_types::list(&signed.ctx.db, signed.tenant(), &request, archived).await?;
    let pager = Pager::of(&found, if archived { "archived=1&" } else { "" });
    let types = found
        .data
        .into_iter()
        .map(|t: event_type::Model| EventTypeRow {
            link: format!("/ui/event-types/{}", t.name),
            name: t.name,
            description: t.description,
            archived: t.archived,
        })
        .collect();
    html(
        status,
        &EventTypesPage {
            page: Chrome::new(&signed.live, "Event types", "event-types"),
            editing: false,
            types,
            archived,
            pager,
            form,
            errors,
        },
    )
}

pub(crate) async fn list(signed: Signed, query: web::Query<EventTypesQuery>) -> Page {
    event_types_page(
        &signed,
        &query,
        EventTypeForm::default(),
        Errors::default(),
        StatusCode::OK,
    )
    .await
}

pub(crate) async fn create(signed: Signed, form: web::Form<EventTypeForm>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let form = form.into_inner();
    let new = (|| -> Result<NewEventType, Error> {
        Ok(NewEventType {
            name: EventTypeName::parse_field("name", form.name.trim())?,
            description: event_types::parse_description(form.description.trim())?,
            schemas: parse_schema(&form.schema)?,
            archived: false,
            deprecated: false,
            feature_flags: Vec::new(),
            group_name: None,
        })
    })();
    let created = match new {
        Ok(new) => event_types::create(&signed.ctx, signed.tenant(), new, &signed.live.actor()).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(t) => Ok(see_other(&format!("/ui/event-types/{}", t.name))),
        Err(e) => {
            let errors = Errors::from_error(e)?;
            event_types_page(
                &signed,
                &EventTypesQuery::default(),
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "event_type.html")]
struct EventTypePage {
    page: Chrome,
    editing: bool,
    link: String,
    archived: bool,
    example: String,
    form: EventTypeForm,
    errors: Errors,
}

async fn event_type_page(
    signed: &Signed,
    t: &event_type::Model,
    form: Option<EventTypeForm>,
    errors: Errors,
    status: StatusCode,
) -> Page {
    let schema = t
        .schemas
        .as_ref()
        .and_then(|s| s.get("1"))
        .and_then(|s| serde_json::to_string_pretty(s).ok())
        .unwrap_or_default();
    let example = event_types::example(t.schemas.as_ref(), 0)
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_default();
    html(
        status,
        &EventTypePage {
            page: Chrome::new(&signed.live, t.name.clone(), "event-types"),
            editing: true,
            link: format!("/ui/event-types/{}", t.name),
            archived: t.archived,
            example,
            form: form.unwrap_or(EventTypeForm {
                csrf: String::new(),
                name: t.name.clone(),
                description: t.description.clone(),
                schema,
            }),
            errors,
        },
    )
}

pub(crate) async fn show(signed: Signed, req: HttpRequest) -> Page {
    let t = event_types::find(&signed.ctx.db, signed.tenant(), param(&req, "name")).await?;
    event_type_page(&signed, &t, None, Errors::default(), StatusCode::OK).await
}

pub(crate) async fn edit(signed: Signed, req: HttpRequest, form: web::Form<EventTypeForm>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let t = event_types::find(&signed.ctx.db, signed.tenant(), param(&req, "name")).await?;
    let form = form.into_inner();
    let changes = (|| -> Result<EventTypeChanges, Error> {
        Ok(EventTypeChanges {
            description: Some(event_types::parse_description(form.description.trim())?),
            schemas: Some(parse_schema(&form.schema)?),
            ..EventTypeChanges::default()
        })
    })();
    let changed = match changes {
        Ok(changes) => {
            event_types::patch(
                &signed.ctx,
                signed.tenant(),
                &t.name,
                changes,
                &signed.live.actor(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match changed {
        Ok(t) => Ok(see_other(&format!("/ui/event-types/{}", t.name))),
        Err(e) => {
            let errors = Errors::from_error(e)?;
            let form = EventTypeForm {
                name: t.name.clone(),
                ..form
            };
            event_type_page(&signed, &t, Some(form), errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

pub(crate) async fn archive(signed: Signed, req: HttpRequest, form: web::Form<Csrf>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let t = event_types::find(&signed.ctx.db, signed.tenant(), param(&req, "name")).await?;
    if t.archived {
        let changes = EventTypeChanges {
            archived: Some(false),
            ..EventTypeChanges::default()
        };
        event_types::patch(
            &signed.ctx,
            signed.tenant(),
            &t.name,
            changes,
            &signed.live.actor(),
        )
        .await?;
    } else {
        event_types::delete(&signed.ctx, signed.tenant(), &t.name, false, &signed.live.actor()).await?;
    }
    Ok(see_other(&format!("/ui/event-types/{}", t.name)))
}
