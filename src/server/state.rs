//! What every request handler shares: the store, the token signer, and the shop details and topics
//! taken from `rapport.toml` when the server starts.

use crate::config::Config;
use crate::store::Store;
use crate::store::suppressions::ALL_TOPICS;
use crate::token::Signer;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The shop as its pages show it.
#[derive(Debug, Clone)]
pub struct Shop {
    /// The display name of `[sender] from`, else its address.
    pub name: String,
    pub email: String,
    pub postal_address: String,
}

/// Shared, cheaply cloned state of the tracking server.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<Store>,
    pub(crate) signer: Signer,
    pub(crate) shop: Arc<Shop>,
    /// Campaign name → its topic.
    topics: Arc<BTreeMap<String, String>>,
}

impl AppState {
    pub fn new(store: Arc<Store>, config: &Config) -> AppState {
        let from = &config.sender.from.0;
        let shop = Shop {
            name: from
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| from.email.to_string()),
            email: from.email.to_string(),
            postal_address: config.sender.postal_address.as_str().to_string(),
        };
        let topics = config
            .campaigns
            .iter()
            .map(|c| (c.name.get_ref().to_string(), c.topic.to_string()))
            .collect();
        AppState {
            store,
            signer: Signer::new(config.tracking.secret.get_ref().expose().as_bytes()),
            shop: Arc::new(shop),
            topics: Arc::new(topics),
        }
    }

    /// The topic of `campaign`. A campaign no longer in `rapport.toml` has no known topic: an
    /// unsubscribe from it then stops everything, the only choice that surely honours it.
    pub fn topic_of(&self, campaign: &str) -> &str {
        self.topics
            .get(campaign)
            .map(String::as_str)
            .unwrap_or(ALL_TOPICS)
    }

    /// The distinct topics of the workspace's campaigns, sorted.
    pub fn all_topics(&self) -> Vec<&str> {
        let mut topics: Vec<&str> = self.topics.values().map(String::as_str).collect();
        topics.sort_unstable();
        topics.dedup();
        topics
    }
}
