//! pylantir: a DICOM Modality Worklist / MPPS server fed by data-source plugins.
//!
//! Modules:
//! - [`audit`]: the audit trail (who saw or changed which patient): records,
//!   the audit file, syslog, reading it back.
//! - [`cli`]: the command line (start, check-config, migrate-config, plugins,
//!   query-db, test-client, test-mpps, echo, start-api, the user commands,
//!   explain); thin, calls the modules below.
//! - [`config`]: the JSON configuration: parsing, legacy conversion, validation.
//! - [`loader`]: finding, checking and loading plugin files; the source-type registry.
//! - [`isolation`]: plugins in worker processes, so a crashing plugin never stops the server.
//! - [`source`]: the host's own data-source trait, whatever a source came from.
//! - [`sync`]: one scheduler per data source; normalising and upserting entries.
//! - [`store`]: the worklist database, SQLite or PostgreSQL behind one interface:
//!   schema, migrations, the sync upsert, C-FIND, MPPS, history, retention.
//! - [`housekeeping`]: retention: deleting expired rows in bounded batches.
//! - [`write_back`]: MPPS outcomes sent to their sources' plugins.
//! - [`dicom`]: the DICOM server (C-ECHO, MWL C-FIND, MPPS) and our own SCU.
//! - [`tls`]: TLS on rustls (the BCP 195 profile), certificate and key files.
//! - [`http`]: the HTTP API (Python pylantir's REST API and more), its users and tokens.

pub mod audit;
pub mod cli;
pub mod config;
pub mod dicom;
pub mod housekeeping;
pub mod http;
pub mod isolation;
pub mod loader;
pub mod source;
pub mod store;
pub mod sync;
pub mod tls;
pub mod write_back;
