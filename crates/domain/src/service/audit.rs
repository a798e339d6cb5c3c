//! The audit log: who did what to which thing, and when.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use crate::{
    pagination::{self, PageRequest, Paged},
    scope::TenantScoped,
};

use crate::{
    DbContext, Result,
    entity::audit_event,
    id::{ApiTokenId, AppId, AuditEventId, TenantId, UserId},
};

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User {
        id: UserId,
        email: String,
    },
    Token {
        id: ApiTokenId,
        name: String,
    },
    /// A tenant's customer in the portal of one application.
    Portal {
        app: AppId,
    },
    /// An operator at the `herald` command line.
    Cli,
    /// Herald itself (first run, automatic disabling).
    System,
}

impl Actor {
    fn parts(&self) -> (&'static str, Option<String>, String) {
        match self {
            Self::User { id, email } => ("user", Some(id.to_string()), email.clone()),
            Self::Token { id, name } => ("token", Some(id.to_string()), name.clone()),
            Self::Portal { app } => ("portal", Some(app.to_string()), format!("portal of {app}")),
            Self::Cli => ("cli", None, "herald CLI".into()),
            Self::System => ("system", None, "Herald".into()),
        }
    }

    /// What `created_by` columns record.
    pub fn label(&self) -> String {
        match self {
            Self::User { id, .. } => id.to_string(),
            Self::Token { id, .. } => id.to_string(),
            other => other.parts().0.to_owned(),
        }
    }
}

/// What was acted on.
#[derive(Clone, Debug)]
pub struct Target {
    pub kind: &'static str,
    pub id: Option<String>,
}

impl Target {
    pub fn new(kind: &'static str, id: impl ToString) -> Self {
        Self {
            kind,
            id: Some(id.to_string()),
        }
    }
}

/// Records one audit event in the caller's transaction (a service's own: the audit row
/// commits with the change it records).
pub(crate) async fn record<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    actor: &Actor,
    action: &str,
    target: Target,
    details: Option<serde_json::Value>,
) -> Result<()> {
    let (actor_kind, actor_id, actor_label) = actor.parts();
    audit_event::ActiveModel {
        id: Set(AuditEventId::new()),
        tenant_id: Set(tenant.clone()),
        actor_kind: Set(actor_kind.into()),
        actor_id: Set(actor_id),
        actor_label: Set(actor_label),
        action: Set(action.into()),
        target_kind: Set(target.kind.into()),
        target_id: Set(target.id),
        details: Set(details),
        created_at: Set(Utc::now()),
    }
    .insert(conn)
    .await
    .context("recording an audit event")?;
    Ok(())
}

/// The tenant's audit log, newest first.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Paged<audit_event::Model>> {
    pagination::fetch(
        conn,
        audit_event::Entity::for_tenant(tenant),
        audit_event::Column::Id,
        page,
        |e| e.id.to_string(),
    )
    .await
}
