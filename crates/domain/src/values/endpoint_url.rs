//! The URL of an endpoint: where deliveries go.
//!
//! Parsing checks the shape (http or https, a host, no credentials, no fragment). Whether
//! the host may be reached is a different question, answered at delivery time against the
//! address actually connected to (see `crate::ssrf`).

use std::fmt;

use url::Url;

use crate::Error;

#[derive(Clone, PartialEq, Eq)]
pub struct EndpointUrl(Url);

impl EndpointUrl {
    pub const MAX_LEN: usize = 65_536;

    pub fn parse(value: &str) -> Result<Self, Error> {
        Self::parse_field("url", value)
    }

    pub fn parse_field(field: &'static str, value: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::invalid(field, reason.to_owned());
        if value.trim().is_empty() {
            return Err(invalid("must not be empty"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(invalid("must be at most 65536 characters"));
        }
        if value.trim() != value {
            return Err(invalid("must not start or end with whitespace"));
        }
        let url =
            Url::parse(value).map_err(|e| Error::invalid(field, format!("is not a valid URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("must use http or https"));
        }
        match url.host_str() {
            None | Some("") => return Err(invalid("must name a host")),
            Some(_) => {}
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "must not carry credentials; use custom headers for authentication",
            ));
        }
        if url.fragment().is_some() {
            return Err(invalid("must not have a #fragment"));
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EndpointUrl({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_web_urls() {
        for ok in [
            "https://example.com/webhook",
            "http://127.0.0.1:8080/hook?x=1",
            "https://[::1]:9000/",
            "https://hooks.example.co.uk/a/b/c",
        ] {
            assert!(EndpointUrl::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn normalises_like_a_browser() {
        let url = EndpointUrl::parse("HTTPS://Example.COM").unwrap();
        assert_eq!(url.as_str(), "https://example.com/");
    }

    #[test]
    fn rejects_with_reasons() {
        for (bad, why) in [
            ("", "empty"),
            (" https://example.com", "whitespace"),
            ("example.com/hook", "not a valid URL"),
            ("ftp://example.com/", "http or https"),
            ("file:///etc/passwd", "http or https"),
            ("javascript:alert(1)", "http or https"),
            ("https://user:pw@example.com/", "credentials"),
            ("https://example.com/#frag", "fragment"),
            ("http://", "not a valid URL"),
        ] {
            let err = EndpointUrl::parse(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("invalid url:") && err.contains(why),
                "{bad:?}: {err}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(65_536));
        assert!(EndpointUrl::parse(&long).is_err());
    }
}
