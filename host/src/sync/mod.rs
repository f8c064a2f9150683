//! One scheduler per data source; normalising and upserting entries.
