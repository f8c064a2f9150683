//! `pylantir echo`: C-ECHO a DICOM server. Also the connection options the
//! other SCU commands share (pylantir 0.4 spellings kept).

use crate::dicom::scu::{Client, ScuOptions};
use clap::Args;
use dicom_dictionary_std::uids;
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
    let outcome = Client::connect(&options, &[uids::VERIFICATION]).and_then(|mut client| {
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
