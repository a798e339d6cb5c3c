//! Logging: `tracing` to stderr, filtered by the `log` setting (or `RUST_LOG`), as
//! human-readable lines or, with `log_format = "json"`, one JSON object per line.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

impl LogFormat {
    pub fn parse(value: &str) -> anyhow::Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "human" | "text" | "" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            other => anyhow::bail!("HERALD_LOG_FORMAT: `{other}` is not a log format; use human or json"),
        }
    }
}

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(filter: &str, format: LogFormat) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .unwrap_or_else(|| filter.to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_unknown_ones_are_refused() {
        assert_eq!(LogFormat::parse("JSON").unwrap(), LogFormat::Json);
        assert_eq!(LogFormat::parse("human").unwrap(), LogFormat::Human);
        let err = LogFormat::parse("xml").unwrap_err().to_string();
        assert!(err.contains("HERALD_LOG_FORMAT"), "{err}");
    }
}
