//! The tenant's own pages: event types, API tokens, the team, and the audit log. Only
//! dashboard users reach them; every change is for admins (see
//! [`check`](crate::form::check)).

pub(crate) mod audit;
pub(crate) mod event_types;
pub(crate) mod team;
pub(crate) mod tokens;
