//! The command line: parses arguments, calls the library, maps errors to exit codes.

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    env_logger::init();
    0
}
