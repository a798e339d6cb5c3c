//! The OpenAPI document is generated from the code; the committed `openapi.json` must
//! match it. Regenerate with `HERALD_UPDATE_OPENAPI=1 cargo test --workspace openapi`.

use std::path::PathBuf;

use tests::TestApp;

fn committed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi.json")
}

#[test]
fn committed_document_matches_the_code() {
    let generated = api::openapi_document();
    if std::env::var("HERALD_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(committed(), format!("{generated}\n")).unwrap();
    }
    let on_disk = std::fs::read_to_string(committed()).unwrap_or_default();
    assert!(
        on_disk.trim_end() == generated.trim_end(),
        "openapi.json is out of date: run `HERALD_UPDATE_OPENAPI=1 cargo test --workspace openapi` and commit it"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/app",
        "/api/v1/app/{app_id}/msg",
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
}

#[tokio::test]
async fn the_server_serves_the_document() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap().trim_end(),
        api::openapi_document().trim_end()
    );
}
