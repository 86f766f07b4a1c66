//! Parameters with their PostgreSQL types, for statements sent unnamed (`query_typed`,
//! `execute_typed`): Parse, Bind, Describe, Execute and Sync go out together, one round trip,
//! and no statement name is left on a server. A statement given as text to `query` is
//! prepared under a name first (a second round trip, and a Close after it), which PgBouncer in
//! transaction mode cannot follow: outside a transaction the Bind may reach another server
//! connection than the Parse ("prepared statement does not exist"), and a name closed after
//! COMMIT stays on the server for its next client ("already exists"). README: PgBouncer.

use postgres::types::{ToSql, Type};

/// A value with the type the statements give its parameter.
pub trait Typed: ToSql + Sync {
    const TYPE: Type;
}

macro_rules! typed {
    ($($t:ty => $ty:ident),* $(,)?) => {$(
        impl Typed for $t {
            const TYPE: Type = Type::$ty;
        }
    )*};
}

typed! {
    &str => TEXT,
    String => TEXT,
    i64 => INT8,
    i32 => INT4,
    f64 => FLOAT8,
    bool => BOOL,
    Vec<String> => TEXT_ARRAY,
    Vec<&str> => TEXT_ARRAY,
    &[String] => TEXT_ARRAY,
}

impl<T: Typed> Typed for Option<T> {
    const TYPE: Type = T::TYPE;
}

impl<T: Typed> Typed for &T {
    const TYPE: Type = T::TYPE;
}

/// One parameter with its type.
pub fn p<T: Typed>(value: &T) -> (&(dyn ToSql + Sync), Type) {
    (value, T::TYPE)
}

/// Text parameters with their type.
pub fn texts(params: &[String]) -> Vec<(&(dyn ToSql + Sync), Type)> {
    params.iter().map(p).collect()
}
