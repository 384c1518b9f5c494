//! The fleet dashboard: a static page (plain ES modules, SVG charts drawn by the page) embedded in the binary
//! and served at `/` and `/ui/{file}`. It reads the same REST routes every other client uses, plus the live
//! events of [`super::events`]. Nothing is fetched from outside the server: the Content-Security-Policy
//! restricts scripts, styles, images and connections to the page's own origin.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::errors::{ApiError, ErrorBody};

/// Every request for the page's own origin only; no inline script or style, no framing, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// One embedded file: its name under `/ui/`, its media type and its bytes.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $media:expr) => {
        Asset {
            name: $name,
            media_type: $media,
            body: include_bytes!(concat!("assets/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// The page's files. A name not listed here is a 404: the file name never reaches the file system.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("charts.js", JS),
    asset!("fleet.js", JS),
    asset!("engine.js", JS),
    asset!("model.js", JS),
];

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The names of every embedded file (for tests and the OpenAPI description).
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.name)
}

/// The dashboard page (fleet view; the engine and model views are `#/engine/{id}` and `#/model`).
#[utoipa::path(
    get,
    path = "/",
    tag = "dashboard",
    responses((status = 200, description = "The dashboard page", body = String, content_type = "text/html"))
)]
pub async fn index() -> Response {
    match find("index.html") {
        Some(asset) => serve(asset),
        None => ApiError::not_found().into_response(),
    }
}

/// One of the dashboard's embedded files (scripts, style sheet, icon); `index.html` is the page itself.
#[utoipa::path(
    get,
    path = "/ui/{file}",
    tag = "dashboard",
    params(("file" = String, Path, description = "File name, e.g. app.js")),
    responses(
        (status = 200, description = "The file (HTML, JavaScript module, CSS or SVG)", content(
            (String = "text/html"), (String = "text/javascript"), (String = "text/css"), (String = "image/svg+xml")
        )),
        (status = 404, description = "No such file", body = ErrorBody),
    )
)]
pub async fn asset(Path(file): Path<String>) -> Response {
    match find(&file) {
        Some(asset) => serve(asset),
        None => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such dashboard file")
            .into_response(),
    }
}

fn serve(asset: &'static Asset) -> Response {
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.media_type),
    );
    // The files change with the binary; revalidating is cheap, stale scripts after an upgrade are not.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    for (name, value) in security_headers() {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The headers every dashboard response carries.
pub fn security_headers() -> [(header::HeaderName, &'static str); 4] {
    [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        for asset in ASSETS
            .iter()
            .filter(|a| a.name.ends_with(".js") || a.name.ends_with(".html"))
        {
            let text = std::str::from_utf8(asset.body).expect("utf-8");
            for quoted in text
                .split(['"', '\''])
                .filter(|s| s.starts_with("./") || s.starts_with("/ui/"))
            {
                let name = quoted.trim_start_matches("./").trim_start_matches("/ui/");
                if name.contains('.') && !name.contains(' ') {
                    assert!(
                        find(name).is_some(),
                        "{} refers to {name}, which is not embedded",
                        asset.name
                    );
                }
            }
        }
    }

    #[test]
    fn no_asset_reaches_outside_the_server_or_uses_inner_html() {
        for asset in ASSETS {
            // The SVG namespace is an identifier, not a request.
            let text =
                String::from_utf8_lossy(asset.body).replace("http://www.w3.org/2000/svg", "");
            for forbidden in [
                "http://",
                "https://",
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(
                    !text.contains(forbidden),
                    "{} contains {forbidden}",
                    asset.name
                );
            }
            assert!(
                !text.contains("localStorage") && !text.contains("sessionStorage"),
                "{}",
                asset.name
            );
        }
    }

    #[test]
    fn names_are_plain_file_names() {
        for name in asset_names() {
            assert!(!name.contains('/') && !name.contains(".."), "{name}");
        }
        assert!(find("../mod.rs").is_none());
    }
}
