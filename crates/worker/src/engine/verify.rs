//! Sending an endpoint its verification challenge, signed and presented like a delivery
//! (the endpoint's keys, headers, credentials and TLS identity), and judging the answer.

use chrono::Utc;
use domain::{
    id::MessageId,
    service::{endpoint_secret, verification::Challenge},
};

use super::Engine;
use crate::client;

impl Engine {
    /// Posts `challenge` to its endpoint: `None` when the endpoint echoed it, else why
    /// not, for the endpoint's record.
    pub(crate) async fn challenge(&self, challenge: &Challenge) -> Option<String> {
        let endpoint = &challenge.endpoint;
        let now = Utc::now();
        let keys =
            match endpoint_secret::live_keys(&self.ctx, &self.ctx.db, &endpoint.tenant_id, &endpoint.id, now)
                .await
            {
                Ok(keys) => keys,
                Err(e) => {
                    return Some(format!(
                        "the endpoint's signing keys could not be read: {}",
                        e.chain()
                    ));
                }
            };
        let body = challenge.body(now);
        let id = MessageId::new();
        let timeout = self.timeout_of(endpoint);
        let has_auth = endpoint.access.as_ref().is_some_and(|a| a.auth.is_some());
        let mut headers = self.signed_headers(&keys, id.as_str(), now.timestamp(), &body);
        headers.extend(
            endpoint
                .headers
                .0
                .iter()
                .filter(|(k, _)| !has_auth || !k.eq_ignore_ascii_case("authorization"))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let mut client = None;
        if endpoint.access.is_some() {
            let (_, tls, authorization) = match self.present(endpoint, timeout).await {
                Ok(presented) => presented,
                Err((_, why)) => return Some(why),
            };
            client = tls;
            headers.extend(authorization.map(|a| ("authorization".to_owned(), a)));
        }
        let request = client::Request {
            method: reqwest::Method::POST,
            url: &endpoint.url,
            headers,
            body,
            timeout,
        };
        let outcome = match &client {
            Some(client) => self.sender.send_on(client, request).await,
            None => self.sender.send(request).await,
        };
        if let Some((_, why)) = outcome.error {
            return Some(why);
        }
        let answer = outcome.response_body.unwrap_or_default();
        if challenge.echoed_in(&answer) {
            None
        } else {
            Some(format!(
                "HTTP {} without the challenge: answer {{\"challenge\": \"…\"}} or the bare value",
                outcome.response_status.unwrap_or_default()
            ))
        }
    }
}
