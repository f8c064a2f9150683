//! The worker side: `pylantir plugin-worker FILE` loads one plugin with the
//! ordinary loader and serves it on stdin/stdout (see [`super::protocol`]).
//!
//! Stdout stays clean: the protocol goes to a private duplicate of the
//! original stdout, and fd 1 is pointed at stderr before the plugin is
//! loaded, so a plugin's `println!` lands in the log, not in the stream.
//! When stdin closes (the host stopped it, or the host died) the worker ends
//! at once, even while the plugin is busy or stuck.

use super::protocol::{
    error_line, ok_line, quote, write_ok, Hello, HelloLine, Request, PROTOCOL_VERSION,
};
use crate::loader::{load_plugin, LoadOptions, LoadedPlugin};
use pylantir_plugin_api::abi_stable::std_types::{RResult, RStr, RString};
use pylantir_plugin_api::{DataSourceBox, ErrorKind, PluginError, PluginInfo, API_VERSION};
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::mpsc;

/// Serves the plugin at `file` until stdin closes; returns the exit code
/// (2: no protocol channel, 3: the plugin was refused, 4: unreadable request).
pub fn run(file: &Path, options: &LoadOptions) -> i32 {
    let mut protocol = match private_stdout() {
        Ok(protocol) => protocol,
        Err(error) => {
            log::error!("plugin worker: cannot set up its protocol channel: {error}");
            return 2;
        }
    };
    let (tx, requests) = mpsc::channel();
    let reader = std::thread::Builder::new()
        .name("requests".to_string())
        .spawn(move || read_requests(tx));
    if let Err(error) = reader {
        log::error!("plugin worker: cannot start its request reader: {error}");
        return 2;
    }
    let plugin = match load_plugin(file, options) {
        Ok(plugin) => plugin,
        Err(refusal) => {
            send(
                &mut protocol,
                &hello(refusal.info.map(|i| *i), Some(refusal.reason)),
            );
            return 3;
        }
    };
    send(&mut protocol, &hello(Some(plugin.info().clone()), None));
    let mut source = None;
    for line in requests {
        let request: Request = match serde_json::from_str(&line) {
            Ok(request) => request,
            Err(error) => {
                log::error!("plugin worker: unreadable request ({error}): {line}");
                return 4;
            }
        };
        match handle(&plugin, &mut source, request) {
            Reply::Line(line) => send(&mut protocol, &line),
            Reply::Fetched(id, answer) => {
                if write_ok(&mut protocol, id, answer.as_str()).is_err() {
                    exit_now(0);
                }
            }
        }
    }
    0
}

/// A duplicate of fd 1 for the protocol; fd 1 itself then points at stderr.
fn private_stdout() -> io::Result<File> {
    let private = io::stdout().as_fd().try_clone_to_owned()?;
    // SAFETY: dup2 on two descriptors this process owns (1 and 2); it only
    // makes fd 1 another name for stderr's open file.
    if unsafe { libc::dup2(2, 1) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(File::from(private))
}

/// Reads request lines until stdin closes, then ends the process on the spot.
fn read_requests(tx: mpsc::Sender<String>) {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut line = String::new();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => exit_now(0),
            Ok(_) => {
                if tx.send(line.trim_end().to_string()).is_err() {
                    exit_now(0);
                }
            }
        }
    }
}

/// Ends the process without running exit handlers (a plugin may hold locks
/// that they would wait for).
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit only ends the process.
    unsafe { libc::_exit(code) }
}

/// Writes one line in one call; the host being gone ends the worker.
fn send(protocol: &mut File, line: &str) {
    if protocol.write_all(line.as_bytes()).is_err() {
        exit_now(0);
    }
}

fn hello(plugin: Option<PluginInfo>, refused: Option<String>) -> String {
    let line = HelloLine {
        hello: Hello {
            protocol: PROTOCOL_VERSION,
            host_version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: API_VERSION.to_string(),
            plugin,
            refused,
        },
    };
    match serde_json::to_string(&line) {
        Ok(text) => text + "\n",
        Err(error) => format!(
            "{{\"hello\":{{\"protocol\":{PROTOCOL_VERSION},\"host_version\":\"\",\"api_version\":\"\",\"refused\":{}}}}}\n",
            quote(&format!("cannot describe the plugin: {error}"))
        ),
    }
}

fn raw(value: &Option<Box<serde_json::value::RawValue>>) -> &str {
    value.as_deref().map_or("null", |v| v.get())
}

fn plugin_error(id: u64, error: PluginError) -> String {
    error_line(id, error.kind.0, error.message.as_str())
}

/// What a request is answered with.
enum Reply {
    Line(String),
    /// A fetch answer (possibly large), written around as it is.
    Fetched(u64, RString),
}

/// Runs one request against the plugin.
fn handle(plugin: &LoadedPlugin, source: &mut Option<DataSourceBox>, request: Request) -> Reply {
    match request.op.as_str() {
        "fetch" => match source.as_mut() {
            Some(built) => {
                let mapping = RStr::from_str(raw(&request.field_mapping));
                match built.fetch_entries(mapping, request.interval.unwrap_or(0.0)) {
                    RResult::ROk(json) => Reply::Fetched(request.id, json),
                    RResult::RErr(error) => Reply::Line(plugin_error(request.id, error)),
                }
            }
            None => Reply::Line(no_source(request.id)),
        },
        _ => Reply::Line(handle_line(plugin, source, request)),
    }
}

fn no_source(id: u64) -> String {
    error_line(
        id,
        ErrorKind::OTHER.0,
        "no source was built in this worker (`new` comes first)",
    )
}

/// Runs one request other than `fetch`; the answer line.
fn handle_line(
    plugin: &LoadedPlugin,
    source: &mut Option<DataSourceBox>,
    request: Request,
) -> String {
    let id = request.id;
    if request.op == "new" {
        let source_type = request.source_type.unwrap_or_default();
        let source_name = request.source_name.unwrap_or_default();
        return match plugin.new_source(&source_type, &source_name) {
            Ok(built) => {
                let incremental = built.supports_incremental_sync();
                *source = Some(built);
                ok_line(id, &format!("{{\"incremental\":{incremental}}}"))
            }
            Err(error) => error_line(id, ErrorKind::OTHER.0, &error.message),
        };
    }
    let Some(built) = source.as_mut() else {
        return no_source(id);
    };
    match request.op.as_str() {
        "validate" => match built.validate_config(RStr::from_str(raw(&request.config))) {
            RResult::ROk(()) => ok_line(id, "null"),
            RResult::RErr(error) => plugin_error(id, error),
        },
        "call" => {
            let name = request.name.unwrap_or_default();
            match built.call(RStr::from_str(&name), RStr::from_str(raw(&request.payload))) {
                RResult::ROk(json) => ok_line(id, json.as_str()),
                RResult::RErr(error) => plugin_error(id, error),
            }
        }
        "cleanup" => {
            built.cleanup();
            ok_line(id, "null")
        }
        other => error_line(
            id,
            ErrorKind::UNSUPPORTED_OPERATION.0,
            &format!("unknown request `{other}`"),
        ),
    }
}
