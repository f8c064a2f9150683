//! The `pylantir` binary: parses arguments and hands over to the library.

fn main() {
    std::process::exit(pylantir::cli::run());
}
