//! Finding, checking and loading plugin files; the source-type registry.
