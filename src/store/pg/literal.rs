//! A statement of `sql/postgres/` with its parameters written in as literals, for the simple
//! query protocol: several statements in one message, one round trip, run by the server as
//! one implicit transaction. The lease writes use it to send their `SET LOCAL` timeouts and
//! their statement together ([`super::Postgres::single_write`] would take three round trips).
//!
//! Safety of the text: the statement is read once, left to right; `$n` is replaced only
//! outside quoted literals, quoted identifiers and `--` comments, and a value's own text is
//! never read again. A text value becomes a standard literal (`'…'`, quotes doubled), or an
//! escape literal (`E'…'`, backslashes doubled too) when it holds a backslash, so it means the
//! same whatever `standard_conforming_strings` is. A NUL cannot be sent in a simple query:
//! the client refuses the message (and PostgreSQL text cannot hold one).

use anyhow::{bail, Result};

/// One parameter.
#[derive(Debug, Clone, Copy)]
pub enum Lit<'a> {
    /// Text, or NULL.
    Text(Option<&'a str>),
    Int(i64),
    /// A `text[]` of these values (`ARRAY['a', 'b']::text[]`).
    Texts(&'a [String]),
}

/// `value` as a PostgreSQL string literal.
fn quote(value: &str, out: &mut String) {
    if value.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
}

/// Writes `lit` into `out`.
fn write(lit: Lit, out: &mut String) {
    match lit {
        Lit::Text(Some(v)) => quote(v, out),
        Lit::Text(None) => out.push_str("NULL"),
        Lit::Int(n) => out.push_str(&n.to_string()),
        Lit::Texts(values) => {
            out.push_str("ARRAY[");
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                quote(v, out);
            }
            out.push_str("]::text[]");
        }
    }
}

/// `sql` with `$1`… replaced by `params` (comments dropped); an error for a placeholder
/// without a parameter.
pub fn inline(sql: &str, params: &[Lit]) -> Result<String> {
    let mut out = String::with_capacity(sql.len() + 64);
    let mut chars = sql.chars().peekable();
    // The quote that closes the literal or identifier being copied, if any.
    let mut inside: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(close) = inside {
            out.push(c);
            if c == close {
                inside = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                inside = Some(c);
                out.push(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '$' => {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                match n.checked_sub(1).and_then(|i| params.get(i)) {
                    Some(lit) => write(*lit, &mut out),
                    None => bail!("no parameter ${n} for the statement"),
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{inline, Lit};

    #[test]
    fn values_become_literals_and_placeholders_in_comments_and_quotes_stay() {
        let sql = "-- $1 id, $2 n\nSELECT '$1', \"$2\", $1, $2::int8, $3 -- $3\n";
        let got = inline(
            sql,
            &[Lit::Text(Some("a'b")), Lit::Int(-7), Lit::Text(None)],
        )
        .unwrap();
        assert_eq!(got, "\nSELECT '$1', \"$2\", 'a''b', -7::int8, NULL \n");
    }

    #[test]
    fn backslashes_make_an_escape_literal_and_values_are_never_read_again() {
        let got = inline("$1 $2", &[Lit::Text(Some("\\'$2")), Lit::Text(Some("x"))]).unwrap();
        assert_eq!(got, "E'\\\\''$2' 'x'");
        assert!(inline("$2", &[Lit::Int(1)]).is_err());
        assert!(inline("$", &[Lit::Int(1)]).is_err());
    }

    #[test]
    fn a_list_becomes_a_text_array_of_literals() {
        let jobs = ["a'b".to_string(), "c\\d".to_string()];
        let got = inline("= ANY($1::text[])", &[Lit::Texts(&jobs)]).unwrap();
        assert_eq!(got, "= ANY(ARRAY['a''b', E'c\\\\d']::text[]::text[])");
        let none: [String; 0] = [];
        assert_eq!(
            inline("$1", &[Lit::Texts(&none)]).unwrap(),
            "ARRAY[]::text[]"
        );
    }
}
