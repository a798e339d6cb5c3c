//! What templates show, prepared in Rust: times in UTC with a relative form, status
//! words, and the delivery chart's geometry. Templates only place and escape.

use chrono::{DateTime, Utc};
use domain::{
    entity::{attempt, destination},
    service::{attempt::Hour, session::Live},
};

/// The frame every page of a session shares (`session.html`).
pub(crate) struct Chrome {
    pub(crate) title: String,
    /// The signed-in user's email, or the application's name in the portal.
    pub(crate) who: String,
    pub(crate) role: &'static str,
    pub(crate) csrf: String,
    pub(crate) portal: bool,
    pub(crate) may_write: bool,
    /// Which navigation entry is current.
    pub(crate) section: &'static str,
}

impl Chrome {
    pub(crate) fn new(live: &Live, title: impl Into<String>, section: &'static str) -> Self {
        let (who, role, portal) = match live.user() {
            Some(user) => (user.email.clone(), user.role.as_str(), false),
            None => (String::new(), "customer", true),
        };
        Self {
            title: title.into(),
            who,
            role,
            csrf: live.row.csrf.clone(),
            portal,
            may_write: live.may_write(),
            section,
        }
    }
}

/// A moment, as UTC text and relative to now.
pub(crate) struct When {
    pub(crate) utc: String,
    pub(crate) ago: String,
}

impl When {
    pub(crate) fn of(at: DateTime<Utc>) -> Self {
        Self::at(at, Utc::now())
    }

    pub(crate) fn at(at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let seconds = (now - at).num_seconds();
        let (n, unit) = match seconds.abs() {
            s if s < 60 => (s, "s"),
            s if s < 3600 => (s / 60, "min"),
            s if s < 86_400 => (s / 3600, "h"),
            s => (s / 86_400, "d"),
        };
        let ago = if seconds.abs() < 5 {
            "just now".to_owned()
        } else if seconds >= 0 {
            format!("{n} {unit} ago")
        } else {
            format!("in {n} {unit}")
        };
        Self {
            utc: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            ago,
        }
    }
}

pub(crate) fn attempt_status(status: attempt::Status) -> &'static str {
    match status {
        attempt::Status::Success => "Succeeded",
        attempt::Status::Fail => "Failed",
    }
}

pub(crate) fn destination_status(status: destination::Status) -> &'static str {
    match status {
        destination::Status::Pending => "Pending",
        destination::Status::Sending => "Sending",
        destination::Status::Success => "Succeeded",
        destination::Status::Fail => "Failed",
    }
}

/// A bar chart of attempts per hour (succeeded below, failed on top) with the mean
/// response time as a line, in SVG user units.
pub(crate) struct Chart {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) bars: Vec<Bar>,
    /// `x,y x,y …` for the latency polyline.
    pub(crate) latency: String,
    pub(crate) max_count: u64,
    pub(crate) max_ms: u64,
    pub(crate) first_label: String,
    pub(crate) last_label: String,
    /// No attempt at all in the period.
    pub(crate) empty: bool,
}

pub(crate) struct Bar {
    pub(crate) x: u32,
    pub(crate) width: u32,
    pub(crate) ok_y: u32,
    pub(crate) ok_height: u32,
    pub(crate) fail_y: u32,
    pub(crate) fail_height: u32,
    pub(crate) label: String,
}

impl Chart {
    pub(crate) fn of(hours: &[Hour]) -> Self {
        const WIDTH: u32 = 720;
        const HEIGHT: u32 = 160;
        let slot = WIDTH / u32::try_from(hours.len().max(1)).unwrap_or(1);
        let max_count = hours
            .iter()
            .map(|h| h.succeeded + h.failed)
            .max()
            .unwrap_or(0)
            .max(1);
        let max_ms = hours.iter().map(|h| h.mean_ms).fold(0.0, f64::max).max(1.0);
        let scale = |n: u64| -> u32 { u32::try_from(n * u64::from(HEIGHT) / max_count).unwrap_or(HEIGHT) };
        let mut bars = Vec::new();
        let mut points = Vec::new();
        for (i, hour) in hours.iter().enumerate() {
            let x = u32::try_from(i).unwrap_or(0) * slot;
            let ok_height = scale(hour.succeeded);
            let fail_height = scale(hour.failed);
            bars.push(Bar {
                x: x + 1,
                width: slot.saturating_sub(2).max(1),
                ok_y: HEIGHT - ok_height,
                ok_height,
                fail_y: HEIGHT - ok_height - fail_height,
                fail_height,
                label: format!(
                    "{}: {} succeeded, {} failed, mean {:.0} ms",
                    hour.start.format("%H:%M UTC"),
                    hour.succeeded,
                    hour.failed,
                    hour.mean_ms
                ),
            });
            if hour.succeeded + hour.failed > 0 {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "bounded by HEIGHT"
                )]
                let y = HEIGHT - ((hour.mean_ms / max_ms) * f64::from(HEIGHT)) as u32;
                points.push(format!("{},{}", x + slot / 2, y));
            }
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a display value"
        )]
        let max_ms = max_ms.ceil() as u64;
        Self {
            empty: hours.iter().all(|h| h.succeeded + h.failed == 0),
            width: WIDTH,
            height: HEIGHT,
            bars,
            latency: points.join(" "),
            max_count,
            max_ms,
            first_label: hours
                .first()
                .map(|h| h.start.format("%H:%M").to_string())
                .unwrap_or_default(),
            last_label: hours
                .last()
                .map(|h| h.start.format("%H:%M").to_string())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc::now();
        assert_eq!(When::at(now, now).ago, "just now");
        assert_eq!(When::at(now - Duration::minutes(3), now).ago, "3 min ago");
        assert_eq!(When::at(now - Duration::hours(5), now).ago, "5 h ago");
        assert_eq!(When::at(now + Duration::days(2), now).ago, "in 2 d");
        assert!(When::at(now, now).utc.ends_with(" UTC"));
    }

    #[test]
    fn the_chart_scales_bars_to_the_busiest_hour() {
        let start = Utc::now();
        let hours = [
            Hour {
                start,
                succeeded: 10,
                failed: 0,
                mean_ms: 50.0,
            },
            Hour {
                start,
                succeeded: 5,
                failed: 5,
                mean_ms: 100.0,
            },
            Hour {
                start,
                succeeded: 0,
                failed: 0,
                mean_ms: 0.0,
            },
        ];
        let chart = Chart::of(&hours);
        assert_eq!(chart.bars[0].ok_height, chart.height);
        assert_eq!(chart.bars[1].ok_height + chart.bars[1].fail_height, chart.height);
        assert_eq!(chart.bars[2].ok_height + chart.bars[2].fail_height, 0);
        assert_eq!(chart.latency.split(' ').count(), 2, "no point for an empty hour");
        assert_eq!(chart.max_count, 10);
        assert!(!chart.empty);
        assert!(Chart::of(&hours[2..]).empty);
    }
}
