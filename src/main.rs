use clap::Parser;
use durably::cli::Cli;
use durably::error::{self, ExitCode};
use std::io::Write;

fn main() {
    // Our own copy of the arguments first: hiding the password rewrites the memory
    // `args_os` reads. Then hide it, before anything else runs and before any fork, so `ps`
    // shows no password for this process or its supervisor.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    durably::secret::hide_in_argv();
    // An empty DURABLY_DB or DURABLY_HANDLERS means "not set", as in most shells' idioms
    // (`DURABLY_DB= durably ls`), not "a value is required".
    for var in ["DURABLY_DB", "DURABLY_HANDLERS"] {
        if std::env::var_os(var).is_some_and(|v| v.is_empty()) {
            std::env::remove_var(var);
        }
    }
    // Whatever passwords this process may hold, so that no message can print one.
    for arg in args.iter().chain(std::env::var_os("DURABLY_DB").as_ref()) {
        durably::secret::remember_in(&arg.to_string_lossy());
    }
    if let Some(password) = std::env::var_os("PGPASSWORD") {
        durably::secret::remember(&password.to_string_lossy());
    }
    // `DURABLY_COMPLETE=bash durably` prints the shell's registration; the shell then calls
    // back with the line being completed (src/cmd/complete.rs). Exits when it does either.
    clap_complete::CompleteEnv::with_factory(<Cli as clap::CommandFactory>::command)
        .var("DURABLY_COMPLETE")
        .complete();
    let code = match Cli::try_parse_from(&args) {
        Ok(cli) => match durably::cmd::run(cli) {
            Ok(code) => code,
            Err(err) if error::is_broken_pipe(&err) => ExitCode::Ok,
            Err(err) => {
                if !error::is_silent(&err) {
                    let _ = writeln!(
                        std::io::stderr(),
                        "durably: {}",
                        durably::output::error_text(&err)
                    );
                }
                error::exit_code(&err)
            }
        },
        Err(err) => usage_error(err, &args),
    };
    std::process::exit(code.as_i32());
}

/// clap's help and version go to stdout as usual; its errors become one `durably:` line.
fn usage_error(err: clap::Error, args: &[std::ffi::OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::Usage
            } else {
                ExitCode::Ok
            }
        }
        _ => {
            let sub = durably::cli::subcommand_of(args);
            let _ = writeln!(
                std::io::stderr(),
                "{}",
                // clap quotes the offending argument, which may hold control characters.
                durably::output::escape(&durably::secret::scrub(&error::usage_line(
                    &err,
                    sub.as_deref()
                )))
            );
            ExitCode::Usage
        }
    }
}
