//! `ferry-agent`: the device daemon and its CLI. See `ferry-agent help`.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    ferry_agent::heap::configure();
    cli::main(std::env::args_os().skip(1).collect())
}
