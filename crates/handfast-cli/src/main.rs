//! The `handfast` binary.

fn main() -> std::process::ExitCode {
    handfast_cli::cli_main()
}
