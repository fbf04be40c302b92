//! `eid`: the one binary of the platform. Subcommands for the ID administrator (`admin`)
//! and the benchmarks (`bench`); the server, the eID app and the card tools join as the
//! issues land (see DESIGN.md).

mod admin;
mod app;
mod bench;
mod card;
mod cli;
mod context;
mod demo;
mod failure;
mod output;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::failure::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("EID_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // vpicc (`eid card serve`'s link to the virtual reader) logs every APDU, PINs
    // included, at trace level: never, whatever EID_LOG asks.
    let filter = match "vpicc=off".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&Failure::Internal(format!("cannot start the runtime: {e}"))),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Admin(args) => admin::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Card(cmd) => card::run(cmd).await,
            Command::Bench(cmd) => bench::run(cmd).await,
            Command::App(args) => app::run(args).await,
            Command::Demo(args) => demo::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(&failure),
    }
}

fn fail(failure: &Failure) -> ExitCode {
    eprintln!("eid: {failure}");
    ExitCode::from(u8::try_from(failure.exit_code()).unwrap_or(3))
}
