//! Cursor pagination the Svix way: `limit` (1–250, default 50), an `iterator` naming the
//! last item seen, and `{data, iterator, prevIterator, done}` back. A previous-page cursor
//! is the first item's id prefixed with `-`. Ids sort by creation time, so paging by id
//! is paging by time.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};

use crate::{DbContext, Error, Result};

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 250;

/// Which end of the list comes first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// Newest first: the default for messages, attempts and logs.
    #[default]
    Descending,
    Ascending,
}

/// Where a page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// Items after this key, in the list's order.
    After(String),
    /// Items before this key (a previous page).
    Before(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u64,
    pub cursor: Option<Cursor>,
    pub order: Order,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            cursor: None,
            order: Order::default(),
        }
    }
}

impl PageRequest {
    /// Checks `limit` and reads `iterator` (a key, or `-key` for the page before it).
    /// `check_key` vets the key's shape, so a bad iterator is a 422, not an empty page.
    pub fn parse(
        limit: Option<u64>,
        iterator: Option<&str>,
        order: Order,
        check_key: impl Fn(&str) -> bool,
    ) -> Result<Self> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let cursor = match iterator.filter(|i| !i.is_empty()) {
            None => None,
            Some(it) => {
                let (cursor, key) = match it.strip_prefix('-') {
                    Some(key) => (Cursor::Before(key.to_owned()), key),
                    None => (Cursor::After(it.to_owned()), it),
                };
                if !check_key(key) {
                    return Err(Error::invalid(
                        "iterator",
                        "is not an iterator this list returned",
                    ));
                }
                Some(cursor)
            }
        };
        Ok(Self { limit, cursor, order })
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paged<T> {
    pub data: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

impl<T> Paged<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            data: self.data.into_iter().map(f).collect(),
            iterator: self.iterator,
            prev_iterator: self.prev_iterator,
            done: self.done,
        }
    }
}

/// Fetches one page of `select`, ordered and cut by `key` (a unique, sortable column,
/// normally the id); `key_of` reads that column from a row.
pub async fn fetch<E, C, F>(
    conn: &C,
    select: Select<E>,
    key: E::Column,
    page: &PageRequest,
    key_of: F,
) -> Result<Paged<E::Model>>
where
    E: EntityTrait,
    C: ConnectionTrait,
    F: Fn(&E::Model) -> String,
{
    let ascending = page.order == Order::Ascending;
    // A previous page walks the other way, then turns around.
    let backwards = matches!(page.cursor, Some(Cursor::Before(_)));
    let walk_ascending = ascending != backwards;
    let mut select = match &page.cursor {
        None => select,
        Some(Cursor::After(k) | Cursor::Before(k)) => {
            if walk_ascending {
                select.filter(key.gt(k.clone()))
            } else {
                select.filter(key.lt(k.clone()))
            }
        }
    };
    select = if walk_ascending {
        select.order_by_asc(key)
    } else {
        select.order_by_desc(key)
    };
    let mut rows = select.limit(page.limit + 1).all(conn).await.context("listing")?;
    let more = rows.len() as u64 > page.limit;
    rows.truncate(page.limit as usize);
    if backwards {
        rows.reverse();
    }
    let first = rows.first().map(&key_of);
    let last = rows.last().map(&key_of);
    // `done` says the walk reached its end: the last page going forwards, the first going
    // backwards (as Svix says it). Going backwards we came from a next page, so the
    // iterator to it stays.
    let done = !more;
    let iterator = if backwards {
        last.clone()
    } else {
        last.clone().filter(|_| more)
    }
    .or_else(|| match &page.cursor {
        Some(Cursor::Before(k)) => Some(k.clone()),
        _ => None,
    });
    Ok(Paged {
        data: rows,
        iterator: if done && !backwards { None } else { iterator },
        prev_iterator: first.map(|k| format!("-{k}")),
        done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_iterators_are_checked() {
        let ok = |_: &str| true;
        assert_eq!(
            PageRequest::parse(None, None, Order::Descending, ok)
                .unwrap()
                .limit,
            50
        );
        assert!(PageRequest::parse(Some(0), None, Order::Descending, ok).is_err());
        assert!(PageRequest::parse(Some(251), None, Order::Descending, ok).is_err());
        assert_eq!(
            PageRequest::parse(Some(250), None, Order::Descending, ok)
                .unwrap()
                .limit,
            250
        );
        let page = PageRequest::parse(None, Some("-app_1"), Order::Descending, ok).unwrap();
        assert_eq!(page.cursor, Some(Cursor::Before("app_1".into())));
        let err =
            PageRequest::parse(None, Some("zzz"), Order::Descending, |k| k.starts_with("app_")).unwrap_err();
        assert!(err.to_string().starts_with("invalid iterator"), "{err}");
    }
}
