//! Herald's delivery engine.

/// Waits for SIGINT or SIGTERM.
pub async fn run_until_signalled() {
    let _ = tokio::signal::ctrl_c().await;
}
