//! A bare DICOM server on a database, for benchmarks until `pylantir start`
//! is wired: `mwl_server <db> <port> [config.json]`.

use pylantir::dicom::{Server, ServerOptions};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().collect();
    let (Some(db), Some(port)) = (args.get(1), args.get(2).and_then(|p| p.parse().ok())) else {
        eprintln!("usage: mwl_server <db> <port> [config.json]");
        std::process::exit(2);
    };
    let config = match args.get(3) {
        Some(path) => std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_else(|| {
                eprintln!("cannot read configuration {path}");
                std::process::exit(2)
            }),
        None => serde_json::json!({}),
    };
    let options = ServerOptions::from_config(&config, "MWL_SERVER", "127.0.0.1", port)
        .unwrap_or_else(|errors| {
            eprintln!("{}", errors.join("\n"));
            std::process::exit(2)
        });
    let location = pylantir::store::Location::Sqlite(db.into());
    let store = pylantir::store::Store::open(location).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let server = Server::bind(options, store).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    if let Err(e) = server.run(Arc::new(AtomicBool::new(false))) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
