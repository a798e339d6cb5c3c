//! `herald verify`: says whether a captured request is a valid Standard Webhooks delivery
//! for a signing secret, or exactly why not, so a receiver's author can check what
//! arrived without writing code.
//!
//! A capture is the request as HTTP/1.1 puts it on the wire, which is what `nc -l PORT`
//! prints: an optional request line (`POST /hook HTTP/1.1`), header lines, a blank line,
//! then the body. Lines may end in CRLF or LF. With `Content-Length`, the body is that
//! many bytes (a newline an editor adds after it is ignored); without it, everything
//! after the blank line; a chunked body is decoded.

use std::{io::Read, path::PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use domain::{
    service::delivery::parse_period,
    signing::{self, SigningSecret},
};

use crate::cli::{UsageError, emit};

#[derive(Debug, Args)]
#[command(after_help = "\
A capture is the raw HTTP/1.1 request, as `nc -l 9000 > request.txt` saves it: an optional
request line, the headers, a blank line, the body; lines may end in CRLF or LF. The body is
taken byte for byte: the Content-Length bytes after the blank line when that header is there
(a final newline after them is ignored), else everything after it. A chunked body is decoded;
`svix-` headers stand in for missing `webhook-` ones. See docs/receiving.md.

Exit status: 0 valid, 1 not valid (the reason is printed), 2 unusable arguments or input.")]
pub struct VerifyArgs {
    /// The endpoint's signing secret (`whsec_…`).
    #[arg(long, value_name = "WHSEC")]
    secret: String,
    /// How far the `webhook-timestamp` may be from now, either way (`90s`, `5m`, `2h`,
    /// `7d`); raise it to check an old capture.
    #[arg(long, default_value = "5m", value_parser = tolerance)]
    tolerance: chrono::Duration,
    /// The captured request; standard input when absent or `-`.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
}

fn tolerance(value: &str) -> Result<chrono::Duration, String> {
    parse_period("tolerance", value).map_err(|e| e.to_string())
}

/// Prints `valid: …` and succeeds, or fails with the reason (exit 1); a secret that is
/// not one, or input that cannot be read, is a [`UsageError`] (exit 2).
pub fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    // The value is never echoed: an almost-right secret is still a secret.
    let key = SigningSecret::parse(&args.secret).map_err(|_| {
        UsageError::new("--secret is not a signing secret: expected `whsec_` and base64 of 24 to 75 bytes")
    })?;
    let raw = read_input(args.file.as_ref())?;
    let capture = Capture::parse(&raw).context("not a captured HTTP request")?;
    let header = |name: &str| capture.header(name);
    let verified = signing::verify(&key, header, &capture.body, chrono::Utc::now(), args.tolerance)
        .context("not a valid delivery")?;
    let age = chrono::Utc::now().timestamp() - verified.timestamp;
    let when = if age >= 0 {
        format!("{age} s ago")
    } else {
        format!("{} s ahead", -age)
    };
    emit(&format!(
        "valid: {}, signed {when}, {} bytes of body",
        verified.msg_id,
        capture.body.len()
    ));
    Ok(())
}

fn read_input(file: Option<&PathBuf>) -> anyhow::Result<Vec<u8>> {
    let raw = match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => std::fs::read(path)
            .map_err(|e| UsageError::new(format!("cannot read {}: {e}", path.display())))?,
        None => {
            let mut raw = Vec::new();
            std::io::stdin()
                .read_to_end(&mut raw)
                .map_err(|e| UsageError::new(format!("cannot read standard input: {e}")))?;
            raw
        }
    };
    if raw.is_empty() {
        return Err(UsageError::new("the capture is empty").into());
    }
    Ok(raw)
}

/// A captured request: its headers (names lowercased) and its body, decoded.
#[derive(Debug, PartialEq, Eq)]
struct Capture {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Capture {
    fn parse(raw: &[u8]) -> anyhow::Result<Self> {
        let mut rest = raw;
        let mut headers = Vec::new();
        let mut number = 0;
        loop {
            number += 1;
            let Some((line, after)) = split_line(rest) else {
                bail!("no blank line after the headers (the body follows one)");
            };
            rest = after;
            let line = std::str::from_utf8(line).with_context(|| format!("line {number} is not text"))?;
            if line.is_empty() {
                break;
            }
            if number == 1 && line.rsplit(' ').next().is_some_and(|w| w.starts_with("HTTP/")) {
                continue;
            }
            let Some((name, value)) = line.split_once(':').filter(|(n, _)| is_token(n)) else {
                bail!("line {number} is neither a request line nor `Name: value`: {line:?}");
            };
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let header = |name: &str| first(&headers, name);
        let body = if header("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
            dechunk(rest)?
        } else if let Some(length) = header("content-length") {
            let length: usize = length
                .parse()
                .with_context(|| format!("Content-Length `{length}` is not a number"))?;
            if rest.len() < length {
                bail!(
                    "the body is cut short: Content-Length says {length} bytes, the capture has {}",
                    rest.len()
                );
            }
            let (body, extra) = rest.split_at(length);
            if !matches!(extra, b"" | b"\n" | b"\r\n") {
                bail!(
                    "{} bytes follow the {length} bytes Content-Length announces: was the body edited?",
                    extra.len()
                );
            }
            body.to_vec()
        } else {
            rest.to_vec()
        };
        Ok(Self { headers, body })
    }

    /// The first value of a header, by its lowercase name.
    fn header(&self, name: &str) -> Option<&str> {
        first(&self.headers, name)
    }
}

fn first<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// The first line (without its CRLF or LF) and what follows it.
fn split_line(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = raw.iter().position(|b| *b == b'\n')?;
    let line = &raw[..end];
    Some((line.strip_suffix(b"\r").unwrap_or(line), &raw[end + 1..]))
}

/// A header name: a non-empty run of HTTP token characters.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A `Transfer-Encoding: chunked` body: hex sizes, each followed by that many bytes.
fn dechunk(mut rest: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let (line, after) = split_line(rest).context("a chunked body ends without its last chunk")?;
        let size = std::str::from_utf8(line)
            .ok()
            .and_then(|l| usize::from_str_radix(l.split(';').next().unwrap_or("").trim(), 16).ok())
            .context("a chunk of the chunked body has no hexadecimal size")?;
        if size == 0 {
            return Ok(body);
        }
        if after.len() < size {
            bail!("the chunked body is cut short");
        }
        body.extend_from_slice(&after[..size]);
        rest = after[size..]
            .strip_prefix(b"\r\n")
            .or_else(|| after[size..].strip_prefix(b"\n"))
            .context("a chunk of the chunked body is longer than its size says")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(text: &str) -> Capture {
        Capture::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn the_request_line_is_optional_and_lf_or_crlf_both_end_lines() {
        let crlf = capture("POST /hook HTTP/1.1\r\nHost: x\r\nWebhook-Id: msg_1\r\n\r\n{\"a\":1}");
        let lf = capture("host: x\nwebhook-id: msg_1\n\n{\"a\":1}");
        assert_eq!(crlf, lf);
        assert_eq!(crlf.header("webhook-id"), Some("msg_1"));
        assert_eq!(crlf.body, br#"{"a":1}"#);
    }

    #[test]
    fn content_length_bounds_the_body_but_forgives_a_final_newline() {
        let text = "content-length: 7\n\n{\"a\":1}";
        assert_eq!(capture(text).body, br#"{"a":1}"#);
        assert_eq!(capture(&format!("{text}\n")).body, br#"{"a":1}"#);
        assert_eq!(capture(&format!("{text}\r\n")).body, br#"{"a":1}"#);
        let longer = Capture::parse(format!("{text}, \"b\": 2}}").as_bytes()).unwrap_err();
        assert!(
            format!("{longer:#}").contains("was the body edited"),
            "{longer:#}"
        );
        let short = Capture::parse(b"content-length: 70\n\n{}").unwrap_err();
        assert!(format!("{short:#}").contains("cut short"), "{short:#}");
        // Without it, every byte after the blank line is the body.
        assert_eq!(capture("a: b\n\n{}\n").body, b"{}\n");
    }

    #[test]
    fn a_chunked_body_is_decoded() {
        let got = capture("transfer-encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n");
        assert_eq!(got.body, br#"{"a":1}"#);
        assert!(Capture::parse(b"transfer-encoding: chunked\r\n\r\n9\r\n{}\r\n").is_err());
    }

    #[test]
    fn what_is_not_a_request_is_refused_with_the_line() {
        let err = Capture::parse(b"webhook-id: msg_1\n").unwrap_err();
        assert!(format!("{err:#}").contains("no blank line"), "{err:#}");
        let err = Capture::parse(b"{\"just\": \"a body\"}\n\n").unwrap_err();
        assert!(format!("{err:#}").contains("line 1"), "{err:#}");
        let err = Capture::parse(b"webhook-id: msg_1\nnot a header\n\n{}").unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }
}
