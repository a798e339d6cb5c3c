//! An inbox's script as its form gives it, one step per line: a status (`500`), a status
//! with a delay and a body (`200 1500ms ok`), or `timeout`; read into the domain's steps
//! and written back for the form.

use domain::{
    Error,
    entity::inbox::{Script, Step},
    service::inspector,
};

/// What a `timeout` step answers once it has held the request for the longest delay, to a
/// sender that waited that long: a failure all the same.
const TIMEOUT_STATUS: u16 = 504;

/// One line of a script: `timeout`, or a status with an optional delay and body
/// (`200 1500ms accepted`).
fn step_of(line: &str) -> Option<Step> {
    let (first, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    if first.eq_ignore_ascii_case("timeout") {
        return rest.is_empty().then_some(Step {
            status: TIMEOUT_STATUS,
            body: None,
            delay_ms: None,
            timeout: true,
        });
    }
    let status = first.parse().ok()?;
    let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let (delay_ms, body) = match word.strip_suffix("ms").map(str::parse::<u32>) {
        Some(Ok(ms)) => (Some(ms), after.trim()),
        Some(Err(_)) => return None,
        None => (None, rest),
    };
    Some(Step {
        status,
        body: Some(body.to_owned()).filter(|b| !b.is_empty()),
        delay_ms,
        timeout: false,
    })
}

/// A script from its text, one step per line; none when the text is blank.
pub(super) fn script_of(text: &str) -> Result<Option<Script>, Error> {
    let mut steps = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let step = step_of(line).ok_or_else(|| {
            Error::invalid(
                "script",
                format!(
                    "line {}: `{line}` is not a status (such as 500), `timeout`, or a status with a \
                     delay (such as `200 1500ms`)",
                    n + 1
                ),
            )
        })?;
        // Each step on its own first, so that the reason names its line.
        if let Err(Error::Invalid { field, reason }) = inspector::parse_script(vec![step.clone()]) {
            let what = field.rsplit('.').next().unwrap_or("step");
            let what = if what == "delayMs" { "delay" } else { what };
            return Err(Error::invalid(
                "script",
                format!("line {}: {what} {reason}", n + 1),
            ));
        }
        steps.push(step);
    }
    if steps.is_empty() {
        return Ok(None);
    }
    inspector::parse_script(steps).map(Some)
}

/// A script as its form shows it, one step per line.
pub(super) fn script_text(script: Option<&Script>) -> String {
    let Some(script) = script else {
        return String::new();
    };
    script
        .0
        .iter()
        .map(|step| {
            if step.timeout {
                return "timeout".to_owned();
            }
            let mut line = step.status.to_string();
            if let Some(ms) = step.delay_ms {
                line.push_str(&format!(" {ms}ms"));
            }
            if let Some(body) = &step.body {
                line.push(' ');
                line.push_str(body);
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_lines_read_as_steps_and_back() {
        let script = script_of("500\n\n 500 \n200 1500ms all good\ntimeout\n")
            .unwrap()
            .unwrap();
        assert_eq!(script.0.len(), 4);
        assert_eq!(script.0[2].delay_ms, Some(1500));
        assert_eq!(script.0[2].body.as_deref(), Some("all good"));
        assert!(script.0[3].timeout);
        assert_eq!(
            script_text(Some(&script)),
            "500\n500\n200 1500ms all good\ntimeout"
        );
        assert_eq!(script_of("  \n").unwrap(), None);
    }

    #[test]
    fn a_bad_line_is_named() {
        for (text, expected) in [
            ("500\nabc", "line 2: `abc`"),
            ("99", "line 1: status must be between 200 and 599"),
            ("200 99999ms", "line 1: delay must be at most 30000"),
            ("200 fastms", "line 1: `200 fastms`"),
            ("timeout now", "line 1: `timeout now`"),
        ] {
            let Err(Error::Invalid { field, reason }) = script_of(text) else {
                panic!("{text} was taken");
            };
            assert_eq!(field, "script");
            assert!(reason.starts_with(expected), "{text}: {reason}");
        }
    }
}
