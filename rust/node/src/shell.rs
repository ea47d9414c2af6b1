//! Starting and stopping the node around its consensus loop.
//!
//! [`run_node`] loads and checks every file (refusing with one line and exit status 2),
//! opens the store, binds both listen sockets, starts logging, then runs the node loop it
//! is given with the [`Services`] below. The REST API starts serving once the loop says
//! it has loaded its state ([`Services::ready`]), as §10 wants of `/health`. SIGTERM or
//! SIGINT sets [`Shutdown`]; the API stops taking requests, the loop returns, the store is
//! checkpointed and the process exits 0.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use crate::api::{self, ApiState};
use crate::error::FileError;
use crate::files::NodeFiles;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::view::{response_channel, Hooks, Submission, View};

/// Exit status of a refused file or command line.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit status of a node loop that failed.
pub const EXIT_FAILED: u8 = 1;
/// How long requests in flight at shutdown may take to finish.
const API_DRAIN: std::time::Duration = std::time::Duration::from_secs(3);

/// Set once SIGTERM or SIGINT arrives; every task that must stop watches it.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A shutdown signal and the switch that sets it.
    pub fn new() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self(rx))
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown is requested (or its sender is gone).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|set| *set).await;
    }
}

/// What the node loop is started with.
#[derive(Debug)]
pub struct Services {
    /// The checked config, genesis and key.
    pub files: NodeFiles,
    /// The store, already checked (every block decodes and links; see
    /// [`NodeFiles::open_store`]).
    pub store: Arc<Store>,
    /// The stored head height at start-up: the loop replays blocks 1..=head into a fresh
    /// [`clp::ClpManager`] (`files.genesis.clp_manager()`), then publishes.
    pub stored_head: u64,
    /// What the API reads: publish after each commit, read the hooks, set the consensus
    /// status, count P2P metrics (`view.metrics`).
    pub view: Arc<View>,
    /// Responses POSTed to the API; answer every one.
    pub submissions: mpsc::Receiver<Submission>,
    /// The bound P2P listen socket (`listen.p2p`); `set_nonblocking(true)` then
    /// `tokio::net::TcpListener::from_std`.
    pub p2p_listener: std::net::TcpListener,
    /// Send once the stored chain is replayed and published: the API starts serving then.
    /// (Dropping it unsent starts the API too.)
    pub ready: oneshot::Sender<()>,
    /// Return from the loop once this is set.
    pub shutdown: Shutdown,
}

/// Prints the one-line refusal of §10 and gives exit status 2.
pub fn refuse(err: &FileError) -> ExitCode {
    eprintln!("clp-node-rs: error: {err}");
    ExitCode::from(EXIT_BAD_INPUT)
}

/// Loads everything `check-config` checks: the files, the store, the listen addresses.
pub fn load(
    config_path: &Path,
) -> Result<(NodeFiles, Store, u64, crate::files::Listeners), FileError> {
    let files = NodeFiles::load(config_path)?;
    let (store, head) = files.open_store()?;
    let listeners = files.bind_listeners()?;
    Ok((files, store, head, listeners))
}

/// Runs the node from `config_path` with `node_loop` as its consensus loop.
pub fn run_node<F, Fut>(config_path: &Path, node_loop: F) -> ExitCode
where
    F: FnOnce(Services) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let (files, store, stored_head, listeners) = match load(config_path) {
        Ok(loaded) => loaded,
        Err(e) => return refuse(&e),
    };
    crate::logs::init(&files.config.name, files.config.log_level);
    // One thread: the node loop is one task and the links only move frames, so a second
    // worker bought little but cross-thread wake-ups. A testnet runs many nodes on a few
    // cores (64 on 2 in the bench: 19 -> 17 CPU ms per block and node, docs/scale.md).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(event = "node.crashed", error = %e);
            return ExitCode::from(EXIT_FAILED);
        }
    };
    runtime.block_on(serve(files, store, stored_head, listeners, node_loop))
}

async fn serve<F, Fut>(
    files: NodeFiles,
    store: Store,
    stored_head: u64,
    listeners: crate::files::Listeners,
    node_loop: F,
) -> ExitCode
where
    F: FnOnce(Services) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let manager = match files.genesis.clp_manager() {
        Ok(m) => m,
        Err(e) => {
            return refuse(&FileError::new(
                &files.config.genesis_file,
                "",
                e.to_string(),
            ))
        }
    };
    let hooks_token = files.config.hooks_token.clone();
    let view = Arc::new(
        View::new(
            &manager,
            files.genesis.hash(),
            Hooks::new(hooks_token.is_some()),
            Metrics::new(),
        )
        .with_own_address(files.key.address),
    );
    let store = Arc::new(store);
    let (queue, submissions) = response_channel();
    let (stop, shutdown) = Shutdown::new();
    let (ready_tx, ready_rx) = oneshot::channel();
    tracing::info!(
        event = "node.starting",
        address = %files.key.address,
        chain_id = %files.genesis.chain_id,
        stored_head,
        p2p = %files.config.listen_p2p,
        api = %files.config.listen_api,
    );

    let stop = Arc::new(stop);
    let signals = tokio::spawn(forward_signals(stop.clone()));
    let api_state = ApiState {
        view: view.clone(),
        store: store.clone(),
        responses: queue,
        hooks_token,
    };
    let api_task = tokio::spawn(serve_api(
        listeners.api,
        api_state,
        ready_rx,
        shutdown.clone(),
    ));
    let services = Services {
        files,
        store: store.clone(),
        stored_head,
        view,
        submissions,
        p2p_listener: listeners.p2p,
        ready: ready_tx,
        shutdown: shutdown.clone(),
    };
    let result = tokio::spawn(node_loop(services)).await;
    // Whatever ended the loop, the node is stopping: stop serving too.
    signals.abort();
    let mut code = ExitCode::SUCCESS;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(event = "node.failed", error = %e);
            code = ExitCode::from(EXIT_FAILED);
        }
        Err(e) => {
            tracing::error!(event = "node.crashed", error = %e);
            code = ExitCode::from(EXIT_FAILED);
        }
    }
    let _ = stop.send(true);
    // In-flight requests get a moment to finish; then the API is stopped regardless.
    let mut api_task = api_task;
    if tokio::time::timeout(API_DRAIN, &mut api_task)
        .await
        .is_err()
    {
        api_task.abort();
    }
    if let Err(e) = store.checkpoint() {
        tracing::warn!(event = "store.checkpoint_failed", error = %e);
    }
    tracing::info!(event = "node.stopped");
    code
}

/// SIGTERM and SIGINT both ask for a clean stop.
async fn forward_signals(stop: Arc<watch::Sender<bool>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!(event = "node.signals_unavailable");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(event = "node.stopping", signal = name);
    let _ = stop.send(true);
}

/// Serves the API on `listener` from when the loop is ready until shutdown.
async fn serve_api(
    listener: std::net::TcpListener,
    state: ApiState,
    ready: oneshot::Receiver<()>,
    mut shutdown: Shutdown,
) {
    let mut wait = shutdown.clone();
    tokio::select! {
        _ = ready => {}
        _ = wait.wait() => return,
    }
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
    {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(event = "api.failed", error = %e);
            return;
        }
    };
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(event = "api.serving", address);
    let app = api::router(state);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await;
    if let Err(e) = served {
        tracing::error!(event = "api.failed", error = %e);
    }
}
