//! The SQLite worklist database.
//!
//! - [`schema`]: table definitions and the schema version.

pub mod schema;
