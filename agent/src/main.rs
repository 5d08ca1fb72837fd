//! `envmon`: one static binary for the daemon and every CLI command.

fn main() -> std::process::ExitCode {
    envmon_agent::main(std::env::args_os())
}
