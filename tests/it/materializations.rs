//! Views, tables, incremental strategies and seeds on real Delta tables.
