//! Lists shown a page at a time: the page asked for by the query string, and the links to
//! the next and previous pages.

use domain::pagination::{Order, PageRequest, Paged};

use crate::error::PageError;

/// Links to the next and previous pages of a list.
pub(crate) struct Pager {
    pub(crate) next: String,
    pub(crate) prev: String,
}

impl Pager {
    pub(crate) fn of<T>(page: &Paged<T>, base_query: &str) -> Self {
        let link = |iterator: &Option<String>| {
            iterator
                .as_ref()
                .map(|it| format!("?{base_query}iterator={it}"))
                .unwrap_or_default()
        };
        Self {
            // A last page has no iterator; a first page reached going back keeps its way
            // forward although it is `done`.
            next: link(&page.iterator),
            prev: link(&page.prev_iterator),
        }
    }
}

pub(crate) fn page_request(
    iterator: Option<&str>,
    limit: u64,
    is_key: impl Fn(&str) -> bool,
) -> Result<PageRequest, PageError> {
    Ok(PageRequest::parse(
        Some(limit),
        iterator,
        Order::Descending,
        is_key,
    )?)
}

/// Escapes a value for a query string (the few characters that matter in ours).
pub(crate) fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
