//! The `junction` command, built inside the test package so integration tests can run it as a
//! real process (`CARGO_BIN_EXE_junction-cli`): kill it with SIGKILL, restart it, feed it
//! webhooks. It is exactly `junction::cli::main`.

fn main() -> std::process::ExitCode {
    junction::cli::main()
}
