//! `durably completions SHELL`

use crate::cli::{Cli, CompletionsArgs};
use anyhow::Result;
use clap::CommandFactory;

pub fn run(args: CompletionsArgs) -> Result<i32> {
    let mut out = crate::output::stdout();
    clap_complete::generate(args.shell, &mut Cli::command(), "durably", &mut out);
    std::io::Write::flush(&mut out)?;
    Ok(0)
}
