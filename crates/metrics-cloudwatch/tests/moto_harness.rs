//! The moto harness itself: a private server answers, resets, and is gone after drop.
#![allow(clippy::unwrap_used)]

#[path = "support/moto.rs"]
mod moto;

#[tokio::test]
async fn moto_starts_resets_and_stops_on_drop() {
    let Some(m) = moto::Moto::start().await else {
        return;
    };
    let url = m.url().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(m.endpoint(), url);
    let http = reqwest::Client::new();
    let r = http.get(format!("{url}/moto-api/")).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    m.reset().await;
    drop(m);
    // Killed and waited for: nothing listens on that port any more.
    let gone = http.get(format!("{url}/moto-api/")).send().await;
    assert!(gone.is_err(), "moto still answers after drop: {gone:?}");
}

#[tokio::test]
async fn each_start_is_its_own_server() {
    let (Some(a), Some(b)) = (moto::Moto::start().await, moto::Moto::start().await) else {
        return;
    };
    assert_ne!(a.url(), b.url());
    assert_ne!(a.pid(), b.pid());
}
