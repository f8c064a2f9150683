//! The DICOM server (C-ECHO, MWL C-FIND, MPPS) and our own SCU.
//!
//! - [`options`]: server options from the JSON configuration; visibility windows.
//! - [`server`]: listener, association limits and negotiation.
//! - [`admission`]: per-address connection caps, the negotiation deadline, closing at stop.
//! - [`association`]: one association, transport and dispatch: receive, reassemble, respond, abort.
//! - [`dimse`]: command fields, status codes, command sets, PDV reassembly, encoding.
//! - [`wire_checks`]: checks on encoded command and data sets before they are decoded.
//! - [`echo`]: Verification SCP.
//! - [`find`]: MWL C-FIND SCP; [`find::query`] parses queries into store
//!   filters, [`find::response`] builds the response identifiers.
//! - [`mpps`]: MPPS N-CREATE / N-SET SCP.
//! - [`scu`]: our client: C-ECHO, C-FIND, N-CREATE, N-SET.

pub mod admission;
pub mod association;
pub mod dimse;
pub mod echo;
pub mod find;
pub mod mpps;
pub mod options;
pub mod scu;
pub mod server;
pub mod wire_checks;

pub use options::ServerOptions;
pub use server::{RunningServer, Server};
