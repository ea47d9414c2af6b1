//! `clp-node-rs`: see `clp-node-rs --help` and docs/rust-node.md.

fn main() -> std::process::ExitCode {
    clp_node_rs::cli::main()
}
