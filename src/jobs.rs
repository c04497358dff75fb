//! Periodic jobs. The heartbeat renews the seats of users with a stream open here; the reaper
//! removes seats whose lease ran out (on any instance), publishing the "left" messages, member
//! counts and deletions that follow; the GIF sweep deletes the bytes of GIFs that no message
//! carries any more. All stop at shutdown.

use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinSet;

use crate::state::AppState;

pub fn spawn(state: &AppState, tasks: &mut JoinSet<()>) {
    let config = &state.config;
    // Renew well before a seat could lapse, and more often than the grace period, so that a
    // release racing a reconnect is corrected before the reaper could act on it.
    let heartbeat = (config.presence_lease / 3).min(config.presence_grace / 2).max(Duration::from_millis(100));
    tasks.spawn(every(heartbeat, state.clone(), renew_seats));
    tasks.spawn(every(config.reap_interval, state.clone(), reap_seats));
    if !config.gif_sweep_interval.is_zero() {
        tasks.spawn(every(config.gif_sweep_interval, state.clone(), sweep_gifs));
    }
}

/// Only GIFs stored at least one sweep interval ago are candidates, so an upload whose message
/// is still on its way is never swept (see `Store::sweep_gifs`).
async fn sweep_gifs(state: AppState) {
    let before = Utc::now() - state.config.gif_sweep_interval;
    match state.store.sweep_gifs(before).await {
        Ok(0) => {}
        Ok(swept) => tracing::info!(swept, "deleted GIFs no message carries any more"),
        Err(err) => tracing::warn!(error = %err, "could not sweep GIFs"),
    }
}

async fn every<F, Fut>(period: Duration, state: AppState, job: F)
where
    F: Fn(AppState) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = ticks.tick() => job(state.clone()).await,
        }
    }
}

async fn renew_seats(state: AppState) {
    let held = state.presence.held();
    let until = Utc::now() + state.config.presence_lease;
    // Recorded before the write, so a stream that closes meanwhile shortens its seat again.
    state.presence.leased(&held, until);
    if let Err(err) = state.store.extend_seats(&held, until).await {
        tracing::warn!(error = %err, seats = held.len(), "could not renew seats");
    }
}

async fn reap_seats(state: AppState) {
    if let Err(err) = crate::rooms::access::expire_seats(&state).await {
        tracing::warn!(error = %err, "could not expire seats");
    }
}
