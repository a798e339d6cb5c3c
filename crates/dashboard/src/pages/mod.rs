//! The pages: overview, applications, one application, its endpoints, its delivery log
//! and its messages, and the inspector's inboxes. Handlers read with the session's tenant
//! (and, in the portal, its one application), change things only after [`check`] (CSRF,
//! then role), and answer a form post with a 303 to the page that shows the result. Bad
//! input re-renders the page with the reason beside the field and the input kept.

pub(crate) mod app;
pub(crate) mod apps;
pub(crate) mod endpoint;
pub(crate) mod inspector;
pub(crate) mod log;
pub(crate) mod message;
pub(crate) mod overview;
