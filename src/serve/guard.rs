//! What every request passes before a route (README, "durably serve", Security):
//! - the query string is at most [`MAX_QUERY`] bytes (414), a body at most [`MAX_BODY`] (413);
//! - the Host header names this server: on a loopback address only `localhost`, `127.0.0.1`,
//!   `[::1]` or a `--allow-host` name, so that a page of another site whose name was made to
//!   resolve to 127.0.0.1 (DNS rebinding) gets 403;
//! - with a token (`--token`, `DURABLY_TOKEN`), `Authorization: Bearer TOKEN` or the
//!   dashboard's cookie, compared in constant time (401 otherwise);
//! - writes (POST, DELETE) are refused (403) under `--read-only`, and from a browser page of
//!   another origin (an `Origin` that is neither this server nor a `--cors` origin, or
//!   `Sec-Fetch-Site: cross-site`): a form or script of another site cannot act (CSRF);
//! - CORS headers only for `--cors` origins; a preflight (OPTIONS) from one is answered 204.

use super::http::error;
use super::Config;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};

/// The longest query string accepted.
pub const MAX_QUERY: usize = 8 * 1024;
/// The largest request body accepted (a `/trigger` with its input).
pub const MAX_BODY: usize = 1024 * 1024;
/// The dashboard's cookie that carries the token.
pub const COOKIE: &str = "durably_token";

/// The refusal of a request, or None when it may go on.
pub fn check(
    config: &Config,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Option<Response<Body>> {
    if query.is_some_and(|q| q.len() > MAX_QUERY) {
        return Some(error(StatusCode::URI_TOO_LONG, "Query string too long"));
    }
    if !host_allowed(config, headers) {
        return Some(error(
            StatusCode::FORBIDDEN,
            "Forbidden: unexpected Host header",
        ));
    }
    if method == Method::OPTIONS {
        return Some(preflight(config, headers));
    }
    if let Some(token) = &config.token {
        if !authorized(token, query, headers) {
            let mut r = error(StatusCode::UNAUTHORIZED, "Unauthorized");
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Some(r);
        }
    }
    let writes = method == Method::POST || method == Method::DELETE;
    if writes && config.read_only {
        return Some(error(
            StatusCode::FORBIDDEN,
            "Forbidden: the server is read-only",
        ));
    }
    if writes && !same_origin_or_allowed(config, headers) {
        return Some(error(
            StatusCode::FORBIDDEN,
            "Forbidden: cross-origin write",
        ));
    }
    let too_long = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY as u64);
    if too_long {
        return Some(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body too large",
        ));
    }
    None
}

/// Adds the CORS headers a `--cors` origin gets.
pub fn decorate(config: &Config, headers: &HeaderMap, response: &mut Response<Body>) {
    let h = response.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if let Some(origin) = cors_origin(config, headers) {
        if let Ok(v) = HeaderValue::from_str(origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn cors_origin<'a>(config: &Config, headers: &'a HeaderMap) -> Option<&'a str> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    config.cors.iter().any(|c| c == origin).then_some(origin)
}

fn preflight(config: &Config, headers: &HeaderMap) -> Response<Body> {
    let Some(origin) = cors_origin(config, headers) else {
        return super::http::not_found();
    };
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

/// The Host header's name without its port.
fn host_name(headers: &HeaderMap) -> Option<String> {
    let host = headers
        .get(header::HOST)?
        .to_str()
        .ok()?
        .to_ascii_lowercase();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().map(|h| format!("[{h}]"));
    }
    Some(host.split(':').next().unwrap_or("").to_string())
}

fn host_allowed(config: &Config, headers: &HeaderMap) -> bool {
    let Some(name) = host_name(headers) else {
        return false;
    };
    if config
        .allow_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&name))
    {
        return true;
    }
    if config.bind.ip().is_loopback() {
        return matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]");
    }
    // On another address the token guards; with --allow-host, only the names given.
    config.allow_hosts.is_empty()
}

fn same_origin_or_allowed(config: &Config, headers: &HeaderMap) -> bool {
    if cors_origin(config, headers).is_some() {
        return true;
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        return origin.eq_ignore_ascii_case(&format!("http://{host}"))
            || origin.eq_ignore_ascii_case(&format!("https://{host}"));
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    !matches!(site, Some("cross-site"))
}

/// Whether the request carries the token: `Authorization: Bearer`, the dashboard's cookie, or
/// (for the dashboard's first load) `?token=`.
fn authorized(token: &str, query: Option<&str>, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer.is_some_and(|b| same_secret(b.trim(), token)) {
        return true;
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            c.trim()
                .strip_prefix(COOKIE)
                .and_then(|c| c.strip_prefix('='))
        })
        .any(|c| same_secret(c, token));
    if cookie {
        return true;
    }
    let pairs = super::http::query_pairs(query);
    super::http::first(&pairs, "token").is_some_and(|t| same_secret(t, token))
}

/// Compares two secrets in time that depends on neither's content: their SHA-256 digests
/// (equal length whatever was sent), every byte XOR-ed in.
pub fn same_secret(given: &str, expected: &str) -> bool {
    let a = ring::digest::digest(&ring::digest::SHA256, given.as_bytes());
    let b = ring::digest::digest(&ring::digest::SHA256, expected.as_bytes());
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
