//! The command line (docs/rust-node.md): run the node, check its files, make a key.
//! A refused file or argument is one line on stderr and exit status 2.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::FileError;
use crate::files::KeyFile;
use crate::shell;

#[derive(Debug, Parser)]
#[command(
    name = "clp-node-rs",
    version,
    about = "A CLP validator node (docs/protocol.md), tested by clp-testnet.",
    long_about = "A CLP validator node (docs/protocol.md), tested by clp-testnet.\n\n\
        `clp-node-rs --config vN/node.toml` runs the node: it serves the REST API on \
        listen.api, talks to its peers on listen.p2p and keeps its chain in \
        data_dir/chain.sqlite. SIGTERM or SIGINT stops it cleanly.\n\n\
        A config, genesis, key file or store that breaks a rule is refused with one line \
        naming the file and the field, and exit status 2.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// The node config (docs/protocol.md §12.3); paths in it are relative to its directory.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the config, genesis, key file, data directory, store and listen addresses
    /// exactly as start-up does, then exit (0: "ok: ...", 2: the one-line refusal).
    CheckConfig {
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
    },
    /// Write a new validator key file (docs/protocol.md §12.2), mode 0600; never overwrites.
    Keygen {
        /// Where to write the key file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Derive the seed as BLAKE2b-256 of this text (reproducible test keys) instead of
        /// drawing it at random.
        #[arg(long, value_name = "TEXT")]
        seed_text: Option<String>,
    },
}

/// Runs the command line of this process.
pub fn main() -> ExitCode {
    run(Cli::parse())
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match (cli.command, cli.config) {
        (Some(Command::CheckConfig { config }), _) => check_config(&config),
        (Some(Command::Keygen { out, seed_text }), _) => keygen(&out, seed_text.as_deref()),
        (None, Some(config)) => shell::run_node(&config, crate::node::run),
        (None, None) => {
            eprintln!("clp-node-rs: error: --config PATH is required (see --help)");
            ExitCode::from(shell::EXIT_BAD_INPUT)
        }
    }
}

fn check_config(config: &std::path::Path) -> ExitCode {
    match shell::load(config) {
        Err(e) => shell::refuse(&e),
        Ok((files, store, head, _listeners)) => {
            drop(store);
            println!(
                "ok: {} ({}) on chain {:?}, {} validators, stored height {}",
                files.config.name,
                files.key.address,
                files.genesis.chain_id,
                files.genesis.validators.len(),
                head
            );
            ExitCode::SUCCESS
        }
    }
}

fn keygen(out: &std::path::Path, seed_text: Option<&str>) -> ExitCode {
    let key = match seed_text {
        Some(text) => KeyFile::from_seed_text(text),
        None => KeyFile::generate(),
    };
    match key.write_new(out) {
        Ok(()) => {
            println!("{}", key.address);
            ExitCode::SUCCESS
        }
        Err(e) => shell::refuse(&FileError::new(
            out,
            "",
            format!("cannot write the key file: {e}"),
        )),
    }
}
