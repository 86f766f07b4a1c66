//! Every request: [`super::guard`] first, then the route by method and path under the base
//! path, as the library's `handle()` dispatches (anything else: 404 `Not Found`). The
//! library's routes are in [`super::library`]; ours are `GET /stats` and the dashboard at
//! `GET /` (`GET {base}` redirects to `{base}/`, so the page's relative URLs resolve under the
//! base path).

use super::http::{self, not_found};
use super::{guard, library, State};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use std::sync::{Arc, OnceLock};

/// The dashboard page, compiled in.
const DASHBOARD: &str = include_str!("dashboard.html");

pub async fn handle(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    req: Request,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let refused = guard::check(
        &state.config,
        &parts.method,
        parts.uri.query(),
        &parts.headers,
    );
    let mut response = match refused {
        Some(r) => r,
        None => route(&state, &parts, body).await,
    };
    guard::decorate(&state.config, &parts.headers, &mut response);
    response
}

async fn route(
    state: &Arc<State>,
    parts: &axum::http::request::Parts,
    body: Body,
) -> Response<Body> {
    let base = state.config.base_path.as_str();
    let Some(rest) = parts.uri.path().strip_prefix(base) else {
        return not_found();
    };
    let q = http::query_pairs(parts.uri.query());
    match (&parts.method, rest) {
        (&Method::GET, "") => redirect(&format!("{base}/")),
        (&Method::GET, "/") => dashboard(state, &q),
        (&Method::GET, "/stats") => match state.stats.get(&state.pool).await {
            Ok(v) => http::json(StatusCode::OK, &v),
            Err(e) => library::failure(&e),
        },
        (&Method::GET, "/runs") => library::runs(state, &q).await,
        (&Method::GET, "/run") => library::run(state, &q).await,
        (&Method::GET, "/steps") => library::steps(state, &q).await,
        (&Method::GET, "/logs") => library::logs(state, &q).await,
        (&Method::GET, "/subscribe") => library::subscribe(state, &q).await,
        (&Method::GET, "/runs/subscribe") => library::runs_subscribe(state, &q),
        (&Method::POST, "/trigger") => library::trigger(state, body).await,
        (&Method::POST, "/retrigger") => library::retrigger(state, &q).await,
        (&Method::POST, "/cancel") => library::cancel(state, &q).await,
        (&Method::DELETE, "/run") => library::delete(state, &q).await,
        _ => not_found(),
    }
}

fn redirect(to: &str) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The page; with `?token=` (the token, checked by the guard) a redirect to the page that
/// sets the token as an HttpOnly, SameSite=Strict cookie, so that the page's own requests and
/// EventSource carry it and the token leaves the address bar.
fn dashboard(state: &State, q: &[(String, String)]) -> Response<Body> {
    let base = state.config.base_path.as_str();
    if let (Some(token), Some(_)) = (&state.config.token, http::first(q, "token")) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::SEE_OTHER;
        let cookie = format!(
            "{}={token}; HttpOnly; SameSite=Strict; Path={base}/",
            guard::COOKIE
        );
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.insert(header::SET_COOKIE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("{base}/")) {
            h.insert(header::LOCATION, v);
        }
        return r;
    }
    let mut r = Response::new(Body::from(DASHBOARD));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(csp()) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    // The page hides its write controls on a read-only server without probing it.
    if state.config.read_only {
        h.insert("x-durably-read-only", HeaderValue::from_static("1"));
    }
    r
}

/// The page's Content-Security-Policy: requests only to this server, scripts only the page's
/// own inline `<script>` blocks (by their SHA-256, computed once from the compiled-in page:
/// an injected script or an inline event handler attribute does not run), styles only inline
/// ones, no plugins, frames, forms or base URL changes.
fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hashes: Vec<String> = inline_blocks(DASHBOARD, "script")
            .map(|s| {
                let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
                format!("'sha256-{}'", base64(d.as_ref()))
            })
            .collect();
        let scripts = if hashes.is_empty() {
            "'none'".to_string()
        } else {
            hashes.join(" ")
        };
        format!(
            "default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'"
        )
    })
}

/// The texts of the page's inline `<TAG …>…</TAG>` blocks (those without `src`).
fn inline_blocks<'a>(page: &'a str, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut rest = page;
    std::iter::from_fn(move || loop {
        let start = rest.find(&open)?;
        let after = &rest[start..];
        let head_end = after.find('>')?;
        let head = &after[..head_end];
        let body = &after[head_end + 1..];
        let end = body.find(&close)?;
        rest = &body[end + close.len()..];
        if !head.contains("src=") {
            return Some(&body[..end]);
        }
    })
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_pads() {
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foob"), "Zm9vYg==");
    }

    #[test]
    fn inline_scripts_are_found() {
        let page = "<script src=x></script><script>a()</script><p><script type=module>b</script>";
        let found: Vec<_> = super::inline_blocks(page, "script").collect();
        assert_eq!(found, ["a()", "b"]);
    }
}
