//! Shapes shared by every resource: list pages, PATCH fields, the caller's actor.

use domain::pagination::Paged;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// One page of a list: `{data, iterator, prevIterator, done}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListResponse<T: ToSchema> {
    pub data: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

impl<T: ToSchema> ListResponse<T> {
    pub(crate) fn from_page<M>(page: Paged<M>, f: impl FnMut(M) -> T) -> Self {
        let page = page.map(f);
        Self {
            data: page.data,
            iterator: page.iterator,
            prev_iterator: page.prev_iterator,
            done: page.done,
        }
    }
}

/// For PATCH fields: absent → `None`, `null` → `Some(None)`, a value → `Some(Some(v))`.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Rejects `null` where a field may be omitted but not cleared.
pub(crate) fn not_null<T>(field: &'static str, value: Option<Option<T>>) -> Result<Option<T>, domain::Error> {
    match value {
        None => Ok(None),
        Some(Some(v)) => Ok(Some(v)),
        Some(None) => Err(domain::Error::invalid(field, "may be omitted but not null")),
    }
}

/// The answer to a create-or-get or an upsert: `201` with the body if it made the
/// resource, `200` if it was there already.
pub(crate) fn upserted(created: bool, body: impl serde::Serialize) -> actix_web::HttpResponse {
    let mut response = if created {
        actix_web::HttpResponse::Created()
    } else {
        actix_web::HttpResponse::Ok()
    };
    response.json(body)
}

/// A struct read only from a JSON object. serde also reads a struct from the array of its
/// fields in order, so without this `"tls": [null, null]` would be TLS settings.
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(Visit(std::marker::PhantomData))
            .map(Obj)
    }
}

/// An optional struct field, given as an object or `null`.
pub(crate) fn optional_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Obj<T>>::deserialize(deserializer)?.map(|o| o.0))
}

/// A PATCH struct field (see [`nullable`]), given as an object or `null`.
pub(crate) fn nullable_object<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    optional_object(deserializer).map(Some)
}

/// An optional list of structs, each given as an object.
pub(crate) fn optional_objects<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<Obj<T>>>::deserialize(deserializer)?.map(|v| v.into_iter().map(|o| o.0).collect()))
}
