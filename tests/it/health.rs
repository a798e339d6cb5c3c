//! `GET /api/v1/health` says whether the database is reachable.

use serde_json::Value;
use tests::TestApp;

#[tokio::test]
async fn health_is_ok_with_a_reachable_database() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url("/api/v1/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"], "reachable");
}

#[tokio::test]
async fn health_is_503_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.ctx.db.close_by_ref().await.unwrap();
    let response = app.http.get(app.url("/api/v1/health")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"], "unreachable");
}
