//! Project and profile settings.

pub mod schema;
