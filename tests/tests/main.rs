//! The integration tests: one test binary, as ripgrep keeps them, with a
//! module per area. The shared kit (servers, DICOM peers, fakes of upstream
//! APIs, plugin builds) is the `pylantir_tests` library in `tests/src`.

mod audit;
mod author_docs;
mod author_out_of_tree;
mod author_tools;
mod calpendo_plugin;
mod config_commands;
mod config_python_examples;
mod config_validation;
mod console;
mod console_firefox;
mod dicom_association;
mod dicom_binary;
mod dicom_cli;
mod dicom_dcmtk;
mod dicom_find;
mod dicom_flood;
mod dicom_mpps;
mod http_api;
mod http_cli;
mod http_explain;
mod http_fuzz;
mod http_history;
mod http_sources;
mod http_tls;
mod isolation_failures;
mod isolation_lifecycle;
mod lifecycle_housekeeping;
mod lifecycle_retraction;
mod lifecycle_skipped;
mod lifecycle_status;
mod lifecycle_write_back;
mod plugins_csv;
mod plugins_in_process;
mod plugins_json;
mod plugins_list;
mod redcap_plugin;
mod start_network_sources;
mod start_server;
mod store_migration;
mod store_postgres;
mod store_runs;
mod store_upsert;
mod sync_plugins;
mod tls;
