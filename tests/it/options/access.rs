//! What a delivery presents besides its signature: OAuth 2.0 tokens, Basic and bearer
//! credentials and a TLS client certificate, sealed at rest and resealed with the main key.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tests::{
    TestApp,
    api::{Api, setup},
    local_app,
};

use super::{Server, send, succeeded};

#[tokio::test]
async fn oauth_tokens_are_fetched_once_renewed_after_a_401_and_refusals_are_logged() {
    let app = local_app().await;
    let api = setup(&app).await;
    // The token server issues tok-1, tok-2, … to the right client, or refuses everyone.
    let refusing = Arc::new(Mutex::new(false));
    let issued = Arc::new(Mutex::new(0));
    let forms = Arc::new(Mutex::new(Vec::<String>::new()));
    let (r, i, f) = (refusing.clone(), issued.clone(), forms.clone());
    let tokens = Server::start(move |req, body| {
        f.lock().unwrap().push(body.to_owned());
        let client = format!("Basic {}", STANDARD.encode("herald-client:s3cret"));
        let right = req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(client.as_str());
        if *r.lock().unwrap() || !right {
            return (401, r#"{"error": "invalid_client"}"#.into());
        }
        let mut i = i.lock().unwrap();
        *i += 1;
        (
            200,
            json!({"access_token": format!("tok-{i}"), "token_type": "Bearer", "expires_in": 3600})
                .to_string(),
        )
    })
    .await;
    // The receiver accepts one token at a time.
    let accepted = Arc::new(Mutex::new("tok-1".to_owned()));
    let a = accepted.clone();
    let receiver = Server::start(move |req, _| {
        let wanted = format!("Bearer {}", a.lock().unwrap());
        match req.headers().get("authorization").and_then(|v| v.to_str().ok()) {
            Some(got) if got == wanted => (200, "{}".into()),
            _ => (401, "{}".into()),
        }
    })
    .await;
    let ep = api
        .post(
            "/api/v1/app/acme/endpoint",
            json!({"url": receiver.url, "uid": "gw", "retrySchedule": [],
                   "auth": {"type": "oauth2", "tokenUrl": tokens.url, "clientId": "herald-client",
                            "clientSecret": "s3cret", "scopes": ["hooks.write", "hooks.read"],
                            "audience": "https://api.example", "params": {"resource": "r1"}}}),
        )
        .await;
    assert_eq!(
        ep["auth"],
        json!({"type": "oauth2", "tokenUrl": tokens.url, "clientId": "herald-client",
               "scopes": ["hooks.write", "hooks.read"], "audience": "https://api.example",
               "params": {"resource": "r1"}, "clientAuth": "basic"})
    );
    for n in 0..3 {
        send(&api, n).await;
    }
    succeeded(&receiver, 3, Duration::from_secs(20)).await;
    assert_eq!(*issued.lock().unwrap(), 1, "one token for every delivery");
    let form = forms.lock().unwrap()[0].clone();
    for part in [
        "grant_type=client_credentials",
        "scope=hooks.write+hooks.read",
        "audience=https%3A%2F%2Fapi.example",
        "resource=r1",
    ] {
        assert!(form.contains(part), "{part} in {form}");
    }
    // The receiver stops taking tok-1: a 401, a new token, and the delivery succeeds in
    // the same attempt.
    *accepted.lock().unwrap() = "tok-2".into();
    let renewed = send(&api, 3).await;
    succeeded(&receiver, 4, Duration::from_secs(20)).await;
    assert_eq!(*issued.lock().unwrap(), 2);
    let attempts = api.get(&format!("/api/v1/app/acme/attempt/msg/{renewed}")).await;
    assert_eq!(attempts["data"].as_array().unwrap().len(), 1, "{attempts}");
    assert_eq!(attempts["data"][0]["status"], 0);
    // Now the token server refuses too: the attempt fails as `auth`, with its reason.
    *refusing.lock().unwrap() = true;
    *accepted.lock().unwrap() = "tok-3".into();
    let refused = send(&api, 4).await;
    let attempts = api
        .wait_for(&format!("/api/v1/app/acme/attempt/msg/{refused}"), |v| {
            v["data"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    let attempt = &attempts["data"][0];
    assert_eq!(attempt["status"], 2, "{attempt}");
    assert_eq!(attempt["errorKind"], "auth", "{attempt}");
    let reason = attempt["response"].as_str().unwrap();
    assert!(
        reason.contains("refused the client credentials") && reason.contains("401"),
        "{reason}"
    );
}

/// The raw `access` and `credentials` columns of endpoint `uid`, as text and bytes.
async fn stored(app: &TestApp, uid: &str) -> (String, Vec<u8>) {
    let row = app
        .ctx
        .db
        .query_one_raw(Statement::from_string(
            app.ctx.db.get_database_backend(),
            format!("SELECT access, credentials FROM endpoint WHERE uid = '{uid}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    let access: Option<Value> = row.try_get("", "access").unwrap();
    let credentials: Option<Vec<u8>> = row.try_get("", "credentials").unwrap();
    (
        access.map(|a| a.to_string()).unwrap_or_default(),
        credentials.unwrap_or_default(),
    )
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn basic_and_bearer_credentials_are_sent_sealed_at_rest_and_never_shown() {
    let app = local_app().await;
    let api = setup(&app).await;
    let server = Server::start(|_, _| (200, "{}".into())).await;
    let ep = api
        .post(
            "/api/v1/app/acme/endpoint",
            json!({"url": server.url, "uid": "gw",
                   "headers": {"Authorization": "Bearer from-a-header"},
                   "auth": {"type": "basic", "username": "svc", "password": "hunter2-pw"}}),
        )
        .await;
    assert_eq!(ep["auth"], json!({"type": "basic", "username": "svc"}));
    assert!(!ep.to_string().contains("hunter2-pw"));
    let (access, credentials) = stored(&app, "gw").await;
    assert!(
        access.contains("svc") && !access.contains("hunter2-pw"),
        "{access}"
    );
    assert!(!credentials.is_empty() && !contains(&credentials, "hunter2-pw"));
    send(&api, 0).await;
    succeeded(&server, 1, Duration::from_secs(20)).await;
    let expected = format!("Basic {}", STANDARD.encode("svc:hunter2-pw"));
    assert_eq!(server.hits()[0].authorization.as_deref(), Some(expected.as_str()));

    // A PUT that does not mention credentials (as the Svix SDKs send it) keeps them.
    let put = app
        .http
        .put(app.url("/api/v1/app/acme/endpoint/gw"))
        .bearer_auth(&api.token)
        .json(&json!({"url": server.url, "description": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let ep = api.get("/api/v1/app/acme/endpoint/gw").await;
    assert_eq!(ep["auth"]["type"], "basic");

    let patch = |body: Value| {
        app.http
            .patch(app.url("/api/v1/app/acme/endpoint/gw"))
            .bearer_auth(&api.token)
            .json(&body)
            .send()
    };
    assert_eq!(
        patch(json!({"auth": {"type": "bearer", "token": "static-tok"}}))
            .await
            .unwrap()
            .status(),
        200
    );
    // A worker reads an endpoint afresh at most a second after a change.
    tests::quiet_window(Duration::from_millis(1100)).await;
    send(&api, 1).await;
    succeeded(&server, 2, Duration::from_secs(20)).await;
    assert_eq!(
        server.hits()[1].authorization.as_deref(),
        Some("Bearer static-tok")
    );

    // Bad credentials are refused with the field, and change nothing.
    for (body, field) in [
        (
            json!({"auth": {"type": "oauth2", "tokenUrl": "ftp://x", "clientId": "a", "clientSecret": "b"}}),
            "auth.tokenUrl",
        ),
        (
            json!({"auth": {"type": "basic", "username": "a:b", "password": "p"}}),
            "auth.username",
        ),
        (json!({"auth": {"type": "bearer", "token": ""}}), "auth.token"),
        (
            json!({"tls": {"clientCert": "not a certificate", "clientKey": "not a key"}}),
            "tls.clientKey",
        ),
    ] {
        let res = patch(body.clone()).await.unwrap();
        assert_eq!(res.status(), 422, "{body}");
        let answer: Value = res.json().await.unwrap();
        let loc = format!("\"{}\"", field.replace('.', "\",\""));
        assert!(answer.to_string().contains(&loc), "{body}: {answer}");
    }
    let unknown = patch(json!({"auth": {"type": "digest"}})).await.unwrap();
    assert!(unknown.status().is_client_error());
    let ep = api.get("/api/v1/app/acme/endpoint/gw").await;
    assert_eq!(ep["auth"], json!({"type": "bearer"}));

    // `null` removes them; the custom header is sent again.
    assert_eq!(patch(json!({"auth": null})).await.unwrap().status(), 200);
    let ep = api.get("/api/v1/app/acme/endpoint/gw").await;
    assert!(ep.get("auth").is_none(), "{ep}");
    assert_eq!(stored(&app, "gw").await, (String::new(), Vec::new()));
    tests::quiet_window(Duration::from_millis(1100)).await;
    send(&api, 2).await;
    succeeded(&server, 3, Duration::from_secs(20)).await;
    assert_eq!(
        server.hits()[2].authorization.as_deref(),
        Some("Bearer from-a-header")
    );
}

/// A file of `tests/fixtures/tls`: a test CA, a server certificate for 127.0.0.1 and a
/// client certificate, all from that CA.
fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// An HTTPS receiver that asks every client for a certificate from the test CA and
/// answers 200 to a request from one that has it. Records, per connection, whether the
/// handshake succeeded with a client certificate.
async fn mutual_tls_receiver() -> (String, Arc<Mutex<Vec<bool>>>) {
    use rustls::{
        RootCertStore, ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
        server::WebPkiClientVerifier,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tests::init();
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(fixture("server.pem").as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(fixture("server.key.pem").as_bytes()).unwrap();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(fixture("ca.pem").as_bytes()).unwrap())
        .unwrap();
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots)).build().unwrap();
    let mut config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<bool>>> = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, record) = (acceptor.clone(), record.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    record.lock().unwrap().push(false);
                    return;
                };
                let with_cert = tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                record.lock().unwrap().push(with_cert);
                // Read the request head and body, then answer and close.
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = tls.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (format!("https://127.0.0.1:{port}/hook"), seen)
}

#[tokio::test]
async fn mutual_tls_presents_the_endpoints_certificate_and_trusts_its_ca() {
    let app = local_app().await;
    let api = setup(&app).await;
    let (url, seen) = mutual_tls_receiver().await;
    // Without the endpoint's TLS settings the receiver's certificate is not trusted.
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": url, "uid": "plain", "retrySchedule": [], "channels": ["plain"]}),
    )
    .await;
    let ep = api
        .post(
            "/api/v1/app/acme/endpoint",
            json!({"url": url, "uid": "mtls", "retrySchedule": [], "channels": ["mtls"],
                   "tls": {"clientCert": fixture("client.pem"), "clientKey": fixture("client.key.pem"),
                           "caCert": fixture("ca.pem")}}),
        )
        .await;
    assert_eq!(ep["tls"]["clientCert"], fixture("client.pem"));
    assert!(
        ep["tls"].get("clientKey").is_none(),
        "the key is never shown: {ep}"
    );
    let (_, credentials) = stored(&app, "mtls").await;
    assert!(!contains(&credentials, "PRIVATE KEY"), "the key is sealed");
    for event in ["plain", "mtls"] {
        api.post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "a", "channels": [event], "payload": {"n": 0}}),
        )
        .await;
    }
    let mtls = api
        .wait_for("/api/v1/app/acme/endpoint/mtls/stats", |v| v["success"] == 1)
        .await;
    assert_eq!(mtls["fail"], 0);
    let plain = api
        .wait_for("/api/v1/app/acme/endpoint/plain/stats", |v| v["fail"] == 1)
        .await;
    assert_eq!(plain["success"], 0);
    let attempts = api.get("/api/v1/app/acme/attempt/endpoint/plain").await;
    assert_eq!(attempts["data"][0]["errorKind"], "tls", "{attempts}");
    assert!(
        seen.lock().unwrap().contains(&true),
        "the receiver saw the client certificate"
    );
}

#[tokio::test]
async fn a_main_key_rotation_reseals_endpoint_credentials() {
    use domain::{
        crypto::{Keyring, MainKey},
        service::{endpoint as endpoints, rekey},
    };
    use herald::{config::Secret, startup};
    let app = TestApp::spawn().await;
    let api = setup(&app).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": "https://example.com/hook", "uid": "gw",
               "auth": {"type": "bearer", "token": "rotate-me"}}),
    )
    .await;
    let new_key = Secret::new(MainKey::generate().unwrap().encode());
    let mut during = app.settings.clone();
    during.main_key = Some(new_key.clone());
    during.main_key_fallbacks = app.settings.main_key.clone();
    let ctx = startup::context(&during, String::new()).await.unwrap();
    let new_id = MainKey::parse(new_key.expose()).unwrap().id();
    let census = rekey::census(&ctx).await.unwrap();
    assert_eq!(
        census.under_other_keys(),
        2,
        "the signing key and the credentials"
    );
    let done = rekey::reseal(&ctx, 500).await.unwrap();
    assert_eq!(done.resealed, 2);
    let (_, sealed) = stored(&app, "gw").await;
    assert_eq!(Keyring::sealed_by(&sealed).as_deref(), Some(new_id.as_str()));
    // The new key alone opens them.
    let mut after = during.clone();
    after.main_key_fallbacks = None;
    let ctx = startup::context(&after, String::new()).await.unwrap();
    let ep = endpoints::find_in_app(&ctx.db, &tenant_of(&app, &api).await, "acme", "gw")
        .await
        .unwrap();
    let credentials = endpoints::open_credentials(&ctx, &ep).unwrap();
    assert_eq!(credentials.secret.as_deref(), Some("rotate-me"));
}

/// The tenant `api`'s token belongs to.
async fn tenant_of(app: &TestApp, api: &Api<'_>) -> domain::id::TenantId {
    domain::service::token::authenticate(&app.ctx, &api.token)
        .await
        .unwrap()
        .tenant
}
