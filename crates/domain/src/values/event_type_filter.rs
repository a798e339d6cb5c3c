//! Which event types an endpoint wants: a non-empty list of distinct names.

use super::EventTypeName;
use crate::Error;

/// The event types an endpoint is sent, each named once (a name given twice counts once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventTypeFilter(Vec<EventTypeName>);

impl EventTypeFilter {
    /// `None` for an empty list: no filter, every event type is wanted.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Option<Self>, Error> {
        let mut parsed: Vec<EventTypeName> = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let name = EventTypeName::parse(name.as_ref()).map_err(|e| e.at(format!("event_types.{i}")))?;
            if !parsed.contains(&name) {
                parsed.push(name);
            }
        }
        Ok((!parsed.is_empty()).then_some(Self(parsed)))
    }

    pub fn names(&self) -> &[EventTypeName] {
        &self.0
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|n| n.as_str().to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_given_twice_count_once_in_their_first_place() {
        let filter = EventTypeFilter::parse(&["b.two", "a.one", "b.two"])
            .unwrap()
            .unwrap();
        assert_eq!(filter.to_strings(), ["b.two", "a.one"]);
    }

    #[test]
    fn empty_means_no_filter() {
        assert_eq!(EventTypeFilter::parse::<&str>(&[]).unwrap(), None);
    }

    #[test]
    fn a_bad_name_is_pointed_at() {
        let err = EventTypeFilter::parse(&["ok", "not ok"]).unwrap_err().to_string();
        assert!(err.starts_with("invalid event_types.1: "), "{err}");
    }
}
