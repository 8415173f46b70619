//! The tracking server over real HTTP on both databases: the open pixel, clicks, forged tokens and
//! previews. (Unsubscribing is in tests/server_unsubscribe.rs, hardening in tests/server_hardening.rs.)

mod common;
#[path = "server_support/http.rs"]
mod http;
#[path = "server_support/setup.rs"]
mod setup;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Engine, stderr, stdout};
use rapport::server::PIXEL;
use rapport::token::{Purpose, Signer};
use setup::{LINKS, start};

/// The pixel is a no-store GIF, the open is recorded with its user agent as data, and the customer
/// enters a segment of recent openers at once.
async fn the_open_pixel_puts_the_customer_in_an_opened_segment(engine: Engine) {
    let t = start(engine).await;
    let count = |t: &setup::Tracked| t.shop.rapport(&["segment", "count", "opened"]);
    assert_eq!(stdout(&count(&t)).trim(), "0", "{}", stderr(&count(&t)));

    let agent = "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 <img src=x onerror=alert(1)>";
    let path = t.path("c0@example.com", Purpose::Open);
    let answer = http::request(t.addr, "GET", &path, &[("User-Agent", agent)], b"").await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("image/gif"));
    assert!(answer.header("cache-control").unwrap().contains("no-store"));
    assert_eq!(answer.body, PIXEL);
    let opened = t.events("c0@example.com", "email.opened").await;
    assert_eq!(opened.len(), 1);
    let properties = &opened[0].properties.0;
    assert_eq!(properties["campaign"], "news");
    assert_eq!(properties["user_agent"], agent, "stored as data, unchanged");
    assert_eq!(properties["machine"], false);
    let out = count(&t);
    assert_eq!(stdout(&out).trim(), "1", "{}", stderr(&out));

    // Apple Mail Privacy Protection fetches with a bare `Mozilla/5.0`: recorded, flagged.
    let proxied = http::request(t.addr, "GET", &path, &[("User-Agent", "Mozilla/5.0")], b"").await;
    assert_eq!(proxied.status, 200);
    let opened = t.events("c0@example.com", "email.opened").await;
    assert_eq!(opened.len(), 2);
    assert!(opened.iter().any(|e| e.properties.0["machine"] == true));
    t.stop().await;
}
on_both_databases!(
    open_pixel,
    the_open_pixel_puts_the_customer_in_an_opened_segment
);

/// A click redirects to the link at its position in that message only; another position is 404.
async fn a_click_redirects_only_to_the_link_of_its_message(engine: Engine) {
    let t = start(engine).await;
    for (index, link) in LINKS.iter().enumerate() {
        let path = t.path("c2@example.com", Purpose::Click(index as u16));
        let answer = http::get(t.addr, &path).await;
        assert_eq!(answer.status, 302);
        assert_eq!(answer.header("location"), Some(*link));
    }
    let clicks = t.events("c2@example.com", "email.clicked").await;
    assert_eq!(clicks.len(), 2);
    assert!(clicks.iter().any(|e| e.properties.0["url"] == LINKS[0]));

    let before = t.written().await;
    let beyond = http::get(t.addr, &t.path("c2@example.com", Purpose::Click(7))).await;
    assert_eq!(beyond.status, 404);
    assert_eq!(beyond.header("location"), None);
    let unknown_delivery = http::get(t.addr, &t.path_for(999_999, Purpose::Click(0))).await;
    assert_eq!(unknown_delivery.status, 404);
    // A query string or extra path cannot steer the redirect.
    let path = t.path("c2@example.com", Purpose::Click(0));
    let steered = http::get(t.addr, &format!("{path}?url=https://evil.example/")).await;
    assert_eq!(steered.header("location"), Some(LINKS[0]));
    let extra = http::get(t.addr, &format!("{path}/https://evil.example/")).await;
    assert_eq!(extra.status, 404);
    assert_eq!(t.written().await.1, before.1);
    t.stop().await;
}
on_both_databases!(clicks, a_click_redirects_only_to_the_link_of_its_message);

/// Forged, altered, truncated, foreign-secret and wrong-endpoint tokens: 404, nothing written.
async fn forged_tokens_get_404_and_write_nothing(engine: Engine) {
    let t = start(engine).await;
    let id = t.id("c0@example.com");
    let mut forged = Vec::new();
    for purpose in [
        Purpose::Open,
        Purpose::Click(0),
        Purpose::Unsubscribe,
        Purpose::Preferences,
    ] {
        let token = t.signer.sign(id, purpose);
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..bytes.len() {
            let mut altered = bytes.clone();
            altered[i] ^= 0x20;
            forged.push(format!(
                "/{}/{}",
                purpose.path(),
                URL_SAFE_NO_PAD.encode(&altered)
            ));
        }
        forged.push(format!("/{}/{}", purpose.path(), &token[..token.len() - 2]));
        forged.push(format!("/{}/{token}A", purpose.path()));
        let other = Signer::new(b"a secret that is not the workspace's at all");
        forged.push(format!("/{}/{}", purpose.path(), other.sign(id, purpose)));
    }
    // Right signature, wrong endpoint: an open token cannot unsubscribe or redirect.
    let open = t.signer.sign(id, Purpose::Open);
    forged.extend([
        format!("/u/{open}"),
        format!("/c/{open}"),
        format!("/p/{open}"),
    ]);
    forged.extend([
        "/u/".to_string(),
        "/u/%00".to_string(),
        format!("/u/{}", "A".repeat(4000)),
    ]);
    let before = t.written().await;

    for path in &forged {
        let get = http::get(t.addr, path).await;
        assert_eq!(get.status, 404, "GET {path}");
        let post = http::post(t.addr, path, "List-Unsubscribe=One-Click").await;
        assert!(
            matches!(post.status, 404 | 405),
            "POST {path}: {}",
            post.status
        );
    }

    assert_eq!(
        t.written().await,
        before,
        "no row written for a forged token"
    );
    t.stop().await;
}
on_both_databases!(forged_tokens, forged_tokens_get_404_and_write_nothing);

/// Links from `rapport preview` (delivery 0) get a friendly answer and write nothing.
async fn preview_links_are_answered_kindly_and_write_nothing(engine: Engine) {
    let t = start(engine).await;
    let before = t.written().await;

    let open = http::get(t.addr, &t.path_for(0, Purpose::Open)).await;
    assert_eq!((open.status, open.body.as_slice()), (200, PIXEL));
    for path in [
        t.path_for(0, Purpose::Click(0)),
        t.path_for(0, Purpose::Unsubscribe),
        t.path_for(0, Purpose::Preferences),
    ] {
        let page = http::get(t.addr, &path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.text().contains("This was a preview"),
            "{}",
            page.text()
        );
    }
    let one_click = http::post(
        t.addr,
        &t.path_for(0, Purpose::Unsubscribe),
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(one_click.status, 200);
    assert!(one_click.text().contains("preview"));

    assert_eq!(t.written().await, before);
    t.stop().await;
}
on_both_databases!(
    previews,
    preview_links_are_answered_kindly_and_write_nothing
);
