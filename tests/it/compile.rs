//! Compilation: Jinja, relations, ephemerals, selection.
