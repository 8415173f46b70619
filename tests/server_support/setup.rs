//! A shop with three customers and two campaigns sent to the outbox, and its tracking server running
//! in this process on 127.0.0.1:0 through the real router and listener.

#![allow(dead_code)]

use crate::common::{Engine, Shop, stderr};
use rapport::server::{AppState, Limits, serve};
use rapport::store::{Event, Store};
use rapport::token::{Purpose, Signer};
use rapport::workspace::Workspace;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub const SECRET: &str = "8f1e0b6c2d4a9e7f3b5c1d0e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b";
/// The links of the `promo` template, as the message carries them (entities decoded).
pub const LINKS: [&str; 2] = [
    "https://maplethread.example/sale?a=1&b=2",
    "https://maplethread.example/about",
];
pub const HOSTILE: &str = "<script>alert(1)</script>";

pub const CONFIG: &str = r#"[sender]
from = "Maple & Thread <hello@maplethread.example>"
postal_address = "12 Alder St, Portland OR 97201"

[tracking]
base_url = "https://mail.maplethread.example"
secret = "8f1e0b6c2d4a9e7f3b5c1d0e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"

[[campaign]]
name = "news"
segment = "everyone"
template = "promo"
topic = "news"

[[campaign]]
name = "offers"
segment = "everyone"
template = "promo"
topic = "offers"
"#;

/// A shop whose campaign `news` went to the outbox, with its server running.
pub struct Tracked {
    pub shop: Shop,
    pub store: Arc<Store>,
    pub signer: Signer,
    pub addr: SocketAddr,
    /// Customer email → the id of their `news` delivery.
    pub deliveries: BTreeMap<String, i64>,
    cancel: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub async fn start(engine: Engine) -> Tracked {
    start_with(engine, Limits::default()).await
}

pub async fn start_with(engine: Engine, limits: Limits) -> Tracked {
    let shop = make_shop(engine).await;
    let out = shop.rapport(&["send", "news"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = Arc::new(shop.store().await);
    let mut deliveries = BTreeMap::new();
    for entry in std::fs::read_dir(shop.path().join("outbox")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(id) = name
            .strip_prefix("delivery-")
            .and_then(|n| n.strip_suffix(".eml"))
        else {
            continue;
        };
        let id: i64 = id.parse().unwrap();
        let delivery = store
            .tracked_delivery(id)
            .await
            .unwrap()
            .expect("a stored delivery");
        deliveries.insert(delivery.email, id);
    }
    assert_eq!(deliveries.len(), 3, "one message per customer");
    let (addr, cancel, server) = serve_shop(&shop, &store, limits).await;
    Tracked {
        shop,
        store,
        signer: Signer::new(SECRET.as_bytes()),
        addr,
        deliveries,
        cancel,
        server,
    }
}

/// The server of the shop's workspace as its rapport.toml now says, on a new port.
async fn serve_shop(
    shop: &Shop,
    store: &Arc<Store>,
    limits: Limits,
) -> (
    SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let workspace = Workspace::load(shop.path()).unwrap();
    let state = AppState::new(store.clone(), &workspace.config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    let server = tokio::spawn(serve(listener, state, limits, cancel.clone()));
    (addr, cancel, server)
}

async fn make_shop(engine: Engine) -> Shop {
    let shop = Shop::new(engine).await;
    shop.write(
        "customers.csv",
        &format!(
            "email,first_name\nc0@example.com,Ada\nc1@example.com,\"{HOSTILE}\"\nc2@example.com,Cy\n"
        ),
    );
    let out = shop.rapport(&["import", "customers", "customers.csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    shop.write("segments/everyone.seg", "# Everyone.\nemail exists\n");
    shop.write(
        "segments/opened.seg",
        "# Opened lately.\nemail.opened.any(7d)\n",
    );
    shop.write("templates/promo.subject", "Autumn sale\n");
    shop.write(
        "templates/promo.html",
        "{% extends \"layout.html\" %}{% block content %}\
         <p><a href=\"https://maplethread.example/sale?a=1&amp;b=2\">Sale</a> \
         <a href=\"https://maplethread.example/about\">About us</a></p>{% endblock content %}\n",
    );
    shop.write("rapport.toml", CONFIG);
    shop
}

impl Tracked {
    pub fn id(&self, email: &str) -> i64 {
        self.deliveries[email]
    }

    /// `/PATH/TOKEN` for `purpose` on the delivery of `email`.
    pub fn path(&self, email: &str, purpose: Purpose) -> String {
        self.path_for(self.id(email), purpose)
    }

    pub fn path_for(&self, delivery_id: i64, purpose: Purpose) -> String {
        format!(
            "/{}/{}",
            purpose.path(),
            self.signer.sign(delivery_id, purpose)
        )
    }

    /// Events of `kind` about the customer `email`, newest first.
    pub async fn events(&self, email: &str, kind: &str) -> Vec<Event> {
        let delivery = self
            .store
            .tracked_delivery(self.id(email))
            .await
            .unwrap()
            .unwrap();
        let all = self
            .store
            .events_of_customer(delivery.customer_id, 1000)
            .await
            .unwrap();
        all.into_iter().filter(|e| e.kind == kind).collect()
    }

    /// The topics each customer is suppressed for.
    pub async fn suppressions(&self) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for email in self.deliveries.keys() {
            out.insert(
                email.clone(),
                self.store.suppressed_topics(email).await.unwrap(),
            );
        }
        out
    }

    /// Everything the server could have written: the event count and every suppression.
    pub async fn written(&self) -> (i64, BTreeMap<String, Vec<String>>) {
        (
            self.store.count_events().await.unwrap(),
            self.suppressions().await,
        )
    }

    /// Writes `config` as rapport.toml and starts the server again on it (at a new `addr`).
    pub async fn restart_with(&mut self, config: &str) {
        self.cancel.cancel();
        (&mut self.server).await.unwrap().unwrap();
        self.shop.write("rapport.toml", config);
        (self.addr, self.cancel, self.server) =
            serve_shop(&self.shop, &self.store, Limits::default()).await;
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        self.server.await.unwrap().unwrap();
        self.store.close().await;
    }
}
