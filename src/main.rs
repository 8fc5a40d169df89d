//! The `rechunk` command line: parse arguments, set up logging, call the crates.
//!
//! Each subcommand lives in `cmd/<name>.rs` with its own clap `Args` and a `run` function.
//! Building an image is the default action: `rechunk --rootfs R --output oci:DIR` is
//! `rechunk build --rootfs R --output oci:DIR`.

mod cmd;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rechunk",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
#[command(
    after_help = "Logging: RUST_LOG=info (or debug, trace). Exit codes: 0 ok, 1 error, 2 usage, 130 interrupted."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Building is the default action: these are `rechunk build`'s options.
    #[command(flatten)]
    build: cmd::build::Args,
}

#[derive(Subcommand)]
enum Command {
    /// Write a re-layered OCI image from a root filesystem or an image (the default action).
    Build(cmd::build::Args),
    /// Scan a root filesystem or an image: components, sizes, unowned files, rpm -V warnings.
    Scan(cmd::scan::Args),
    /// Print the plan a strategy makes, without writing an image.
    Plan(cmd::plan::Args),
    /// List the strategies and their parameters.
    Strategies(cmd::strategies::Args),
    /// Replay image histories through strategies and report update download sizes.
    Compare(cmd::compare::Args),
    /// Show an image's layers, sizes and components.
    Inspect(cmd::inspect::Args),
    /// Bytes a client holding OLD downloads to get NEW.
    Diff(cmd::diff::Args),
    /// Release notes from OLD to NEW: package changes and what each costs to download.
    Changelog(cmd::changelog::Args),
    /// Synthesize a history as a chain of real root filesystems (rpm-installed packages).
    Synth(cmd::synth::Args),
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    require_build_inputs(&cli);
    let result = match cli.command {
        None => cmd::build::run(cli.build),
        Some(Command::Build(args)) => cmd::build::run(args),
        Some(Command::Scan(args)) => cmd::scan::run(args),
        Some(Command::Plan(args)) => cmd::plan::run(args),
        Some(Command::Strategies(args)) => cmd::strategies::run(args),
        Some(Command::Compare(args)) => cmd::compare::run(args),
        Some(Command::Inspect(args)) => cmd::inspect::run(args),
        Some(Command::Diff(args)) => cmd::diff::run(args),
        Some(Command::Changelog(args)) => cmd::changelog::run(args),
        Some(Command::Synth(args)) => cmd::synth::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line: "reading /x: permission denied".
            eprintln!("rechunk: error: {}", shown_error(&format!("{err:#}")));
            ExitCode::from(exit_code(&err))
        }
    }
}

/// The input (`--rootfs` or `--from`) and `--output` are optional at the clap level (they
/// double as top-level options), so their absence is reported here, as the usage error (exit 2)
/// it is.
fn require_build_inputs(cli: &Cli) {
    let args = match &cli.command {
        None => &cli.build,
        Some(Command::Build(args)) => args,
        Some(_) => return,
    };
    let has_input = args.rootfs.is_some() || args.from.is_some();
    if has_input && args.output.is_some() {
        return;
    }
    let mut command = Cli::command();
    if cli.command.is_none() && !has_input && args.output.is_none() {
        // A bare `rechunk`: show what it can do.
        let _ = command.print_help();
        std::process::exit(2);
    }
    command
        .error(
            clap::error::ErrorKind::MissingRequiredArgument,
            "building an image needs --rootfs DIR or --from IMAGE, and --output oci:DIR[:TAG] \
             (or oci-archive:FILE[:TAG])",
        )
        .exit()
}

/// Longest error printed whole; the rest is cut in the middle (a value from the input that
/// slipped into a message whole must not flood the terminal).
const MAX_ERROR: usize = 16 << 10;

/// An error message as printed: control characters escaped (file names and labels from the
/// input must not drive the terminal), cut when longer than [`MAX_ERROR`].
fn shown_error(message: &str) -> String {
    let escaped = rechunk_fsio::shown::escape_keep_lines(message);
    if escaped.len() <= MAX_ERROR {
        return escaped.into_owned();
    }
    let cut = |mut i: usize| {
        while !escaped.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let (head, tail) = (cut(MAX_ERROR / 2), cut(escaped.len() - MAX_ERROR / 4));
    format!(
        "{}…({} bytes)…{}",
        &escaped[..head],
        message.len(),
        &escaped[tail..]
    )
}

/// 130 (128 + SIGINT, what shells expect) when the user interrupted the run, else 1.
fn exit_code(err: &anyhow::Error) -> u8 {
    let interrupted = err
        .chain()
        .any(|e| matches!(e.downcast_ref(), Some(rechunk_oci::Error::Interrupted)));
    if interrupted {
        130
    } else {
        1
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
