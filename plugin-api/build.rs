//! Records the compiler version and panic strategy a plugin is built with, so
//! the plugin can report them in its info (the host refuses `panic = "abort"`).

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=PYLANTIR_PLUGIN_API_RUSTC={version}");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
