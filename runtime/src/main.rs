//! The `junction` command.

fn main() -> std::process::ExitCode {
    junction::cli::main()
}
