//! `durably completions SHELL`

use crate::cli::{Cli, CompletionsArgs};
use crate::error::ExitCode;
use anyhow::Result;
use clap::CommandFactory;

pub fn run(args: CompletionsArgs) -> Result<ExitCode> {
    let mut out = crate::output::stdout();
    clap_complete::generate(args.shell, &mut Cli::command(), "durably", &mut out);
    std::io::Write::flush(&mut out)?;
    Ok(ExitCode::Ok)
}
