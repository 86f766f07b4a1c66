//! Responses as the library writes them (`http.ts`: JSON bodies with `Content-Type:
//! application/json`, errors as `{"error": message}`, unknown routes as a plain `Not Found`)
//! and query strings read as `URLSearchParams` reads them.

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};

/// A JSON response.
pub fn json(status: StatusCode, value: &Value) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `{"error": message}` with `status`; the message without any password this process knows.
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &json!({ "error": crate::secret::scrub(message) }))
}

/// What the library answers to a route it does not have.
pub fn not_found() -> Response<Body> {
    let mut r = Response::new(Body::from("Not Found"));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=UTF-8"),
    );
    r
}

/// The pairs of a query string, decoded (`+` as space, percent escapes), in order.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of `name` (`URLSearchParams.get`).
pub fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Every value of `name` (`URLSearchParams.getAll`).
pub fn all<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// JavaScript's `Number.parseInt(text, 10)`: leading white space, a sign, then the longest run
/// of decimal digits (`"12abc"` is 12); None where it gives NaN. Values beyond i64 saturate.
pub fn js_parse_int(text: &str) -> Option<i64> {
    let t = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: &str = &rest[..rest.bytes().take_while(u8::is_ascii_digit).count()];
    if digits.is_empty() {
        return None;
    }
    let magnitude = digits.parse::<i64>().unwrap_or(i64::MAX);
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::js_parse_int;

    #[test]
    fn parse_int_reads_like_javascript() {
        assert_eq!(js_parse_int("12abc"), Some(12));
        assert_eq!(js_parse_int("  7"), Some(7));
        assert_eq!(js_parse_int("-3"), Some(-3));
        assert_eq!(js_parse_int("-0"), Some(0));
        assert_eq!(js_parse_int("1.9"), Some(1));
        assert_eq!(js_parse_int("abc"), None);
        assert_eq!(js_parse_int("-"), None);
        assert_eq!(js_parse_int("99999999999999999999999"), Some(i64::MAX));
    }
}
