//! Logging: `tracing` with `RUST_LOG`-style filtering (default `info`), one span per request
//! named by its matched route rather than the raw URI, so ids do not explode the span names.

use axum::{extract::MatchedPath, http::Request};
use tower_http::trace::{DefaultOnResponse, MakeSpan, TraceLayer};
use tracing::Level;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Colours only on a terminal: escape codes make log files and CI output hard to read.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).try_init();
}

#[derive(Clone, Copy)]
pub struct RouteSpan;

impl<B> MakeSpan<B> for RouteSpan {
    fn make_span(&mut self, request: &Request<B>) -> tracing::Span {
        let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or("(static)");
        tracing::info_span!("request", method = %request.method(), route, status = tracing::field::Empty)
    }
}

pub fn trace_layer() -> TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    RouteSpan,
    tower_http::trace::DefaultOnRequest,
    DefaultOnResponse,
> {
    TraceLayer::new_for_http().make_span_with(RouteSpan).on_response(DefaultOnResponse::new().level(Level::INFO))
}
