//! `ferry-bundle`: the publisher's tool (keygen, build, sign, verify, inspect, export, publish,
//! push).
//!
//! Exit codes: 0 success, 1 a bundle was refused by verification, 2 usage error, 3 any other
//! failure (IO, missing tool, bad key).

mod args;
mod build;
mod commands;
mod images;
mod push;
mod render;

use std::process::ExitCode;

fn main() -> ExitCode {
    match commands::run(std::env::args_os().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "ferry-bundle: error: {}",
                ferry_bundle::error_chain(e.error.as_ref())
            );
            ExitCode::from(e.code)
        }
    }
}
