//! Strict JSON request bodies: objects must be JSON objects (serde's derived structs would also take an array of
//! field values, which the API and its OpenAPI schema do not allow), and rejections are [`ApiError`]s; the same
//! wording for query strings ([`ApiQuery`]).

use std::fmt;
use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::errors::ApiError;
use super::json_error::{json_error, syntax};

/// A `T` that was written as a JSON object (a JSON array, though serde would map it onto the fields, is refused).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ObjectOnly<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(ObjectOnly)
    }
}

/// Accepts a map only, and hands it to `T`'s own (derived) deserializer.
struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// `#[serde(deserialize_with = ...)]` for a list whose items must each be a JSON object.
pub fn objects<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items = Vec::<ObjectOnly<T>>::deserialize(deserializer)?;
    Ok(items.into_iter().map(|item| item.0).collect())
}

/// Parses a whole body that must be one JSON object.
pub fn from_object_slice<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    serde_json::from_slice::<ObjectOnly<T>>(bytes).map(|object| object.0)
}

/// Parses a whole body that must be one JSON object, with our error wording ([`super::json_error`]).
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let ObjectOnly(value) = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    de.end().map_err(|e| {
        syntax(format!(
            "unexpected data after the JSON object (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    Ok(value)
}

/// Whether the request says its body is JSON: `application/json` or `application/<anything>+json`, any case,
/// parameters (charset) ignored.
pub fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(mime) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
    else {
        return false;
    };
    let mime = mime.trim().to_ascii_lowercase();
    mime == "application/json"
        || mime
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// JSON body extractor: the body must be a JSON object, and rejections are [`ApiError`]s (400/413/415) in our
/// wording instead of axum's plain text.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await?;
        parse_object(&bytes).map(ApiJson)
    }
}

/// Query-string extractor whose rejection is an [`ApiError`] (400, `invalid_request`, axum's reason in details).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "query parameters do not match the schema",
            )
            .with_details(serde_json::json!({ "reason": rejection.body_text() }))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Pair {
        a: u32,
        #[serde(default, deserialize_with = "objects")]
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Item {
        x: Option<f64>,
    }

    #[test]
    fn derived_structs_accept_arrays_but_object_only_does_not() {
        // The gap this module closes: serde maps a JSON array onto a struct's fields in order.
        assert!(serde_json::from_str::<Item>("[1.0]").is_ok());
        assert!(from_object_slice::<Item>(b"[1.0]").is_err());
        assert!(from_object_slice::<Item>(b"null").is_err());
        assert!(from_object_slice::<Item>(b"\"x\"").is_err());
        assert_eq!(
            from_object_slice::<Item>(br#"{"x": 2}"#).ok(),
            Some(Item { x: Some(2.0) })
        );
    }

    #[test]
    fn list_items_must_be_objects() {
        let ok: Pair =
            from_object_slice(br#"{"a": 1, "items": [{"x": null}, {}]}"#).expect("valid");
        assert_eq!(ok.items, [Item { x: None }, Item { x: None }]);
        assert!(from_object_slice::<Pair>(br#"{"a": 1, "items": [[null]]}"#).is_err());
        assert!(from_object_slice::<Pair>(br#"{"a": 1, "items": [null]}"#).is_err());
        // The wrapped struct's own rules still apply.
        assert!(from_object_slice::<Pair>(br#"{"a": 1, "items": [{"y": 1}]}"#).is_err());
        assert!(from_object_slice::<Pair>(br#"{"a": 1, "b": 2}"#).is_err());
        let err = from_object_slice::<Pair>(br#"[1, []]"#).expect_err("array body");
        assert!(err.is_data(), "{err}");
    }
}
