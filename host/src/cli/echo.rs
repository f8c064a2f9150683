//! `pylantir echo`: C-ECHO a DICOM server. Also the connection options the
//! other SCU commands share (pylantir 0.4 spellings kept).

use crate::dicom::scu::{Client, ScuError, ScuOptions};
use clap::Args;
use dicom_dictionary_std::uids;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the SCU commands connect, and as whom.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: String,
    /// Server port.
    #[arg(long, default_value_t = 4242)]
    pub port: u16,
    /// The server's (called) AE title.
    #[arg(long = "AEtitle", alias = "ae-title", default_value = "MWL_SERVER")]
    pub ae_title: String,
    /// Our (calling) AE title.
    #[arg(
        long = "callingAEtitle",
        alias = "calling-ae-title",
        default_value = "PYLANTIR_SCU"
    )]
    pub calling_ae_title: String,
    /// Seconds to wait for the server at each step.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Connect over TLS (the server's certificate checked against --tls-ca
    /// and the host given by --ip).
    #[arg(long, requires = "tls_ca")]
    pub tls: bool,
    /// PEM bundle of the CA certificates trusted for the server's certificate.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Our client certificate chain (PEM), for servers that require one.
    #[arg(long, value_name = "FILE", requires_all = ["tls", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ConnectionArgs {
    /// The SCU options these arguments describe.
    pub fn scu(&self) -> ScuOptions {
        ScuOptions {
            addr: format!("{}:{}", self.ip, self.port),
            called_ae: self.ae_title.clone(),
            calling_ae: self.calling_ae_title.clone(),
            timeout: Duration::from_secs(self.timeout),
        }
    }

    /// The TLS client configuration of `--tls` (its files read now), or
    /// `None` for plain TCP.
    pub fn tls_config(&self) -> Result<Option<Arc<rustls::ClientConfig>>, ScuError> {
        match (&self.tls, &self.tls_ca) {
            (true, Some(ca)) => {
                let identity = self.tls_cert.as_deref().zip(self.tls_key.as_deref());
                let config =
                    crate::tls::client_config(ca, identity).map_err(|e| ScuError(e.message))?;
                Ok(Some(config))
            }
            _ => Ok(None),
        }
    }

    /// Connects, over TLS with `--tls`, proposing these SOP classes.
    pub fn connect(&self, sop_classes: &[&str]) -> Result<Client, ScuError> {
        connect(&self.scu(), self.tls_config()?, sop_classes)
    }
}

/// Connects to `options.addr`, over TLS with `tls`, proposing these SOP classes.
pub fn connect(
    options: &ScuOptions,
    tls: Option<Arc<rustls::ClientConfig>>,
    sop_classes: &[&str],
) -> Result<Client, ScuError> {
    match tls {
        Some(config) => Client::connect_tls(options, config, sop_classes),
        None => Client::connect(options, sop_classes),
    }
}

/// Arguments of `echo`.
#[derive(Debug, Args)]
pub struct EchoArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Runs `echo`; exit code 0 on Success.
pub fn run(args: &EchoArgs) -> i32 {
    let options = args.connection.scu();
    let outcome = args
        .connection
        .connect(&[uids::VERIFICATION])
        .and_then(|mut client| {
            let status = client.echo()?;
            client.release()?;
            Ok(status)
        });
    match outcome {
        Ok(0) => {
            println!("C-ECHO {} at {}: Success", options.called_ae, options.addr);
            0
        }
        Ok(status) => {
            eprintln!(
                "C-ECHO {} at {}: status 0x{status:04X}",
                options.called_ae, options.addr
            );
            1
        }
        Err(e) => {
            eprintln!(
                "C-ECHO {} at {} failed: {e}",
                options.called_ae, options.addr
            );
            1
        }
    }
}
