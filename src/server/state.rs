//! What every request handler shares: the store, the token signer, and the shop details and topics
//! taken from `rapport.toml` when the server starts, and again when the daemon is reloaded.

use crate::config::Config;
use crate::store::Store;
use crate::store::suppressions::ALL_TOPICS;
use crate::token::Signer;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// The shop as its pages show it.
#[derive(Debug, Clone)]
pub struct Shop {
    /// The display name of `[sender] from`, else its address.
    pub name: String,
    pub email: String,
    pub postal_address: String,
}

/// What the server takes from `rapport.toml`: the token signer, the shop, and the campaigns' topics.
/// A reload of the daemon replaces it as a whole (see [`AppState::reload`]).
pub struct Settings {
    pub(crate) signer: Signer,
    pub(crate) shop: Shop,
    /// Campaign name → its topic.
    topics: BTreeMap<String, String>,
}

impl Settings {
    fn new(config: &Config) -> Settings {
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
        Settings {
            signer: Signer::for_tracking(&config.tracking),
            shop,
            topics,
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

/// Shared, cheaply cloned state of the tracking server.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<Store>,
    settings: Arc<RwLock<Arc<Settings>>>,
}

impl AppState {
    pub fn new(store: Arc<Store>, config: &Config) -> AppState {
        AppState {
            store,
            settings: Arc::new(RwLock::new(Arc::new(Settings::new(config)))),
        }
    }

    /// The settings in force: a request keeps the ones it started with.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().expect("not poisoned").clone()
    }

    /// Takes the secret, the shop and the campaigns' topics from `config` anew, as the daemon's
    /// messages do after a reload: an unsubscribe from a campaign added or moved to another topic
    /// since the server started is then recorded for that topic.
    pub fn reload(&self, config: &Config) {
        *self.settings.write().expect("not poisoned") = Arc::new(Settings::new(config));
    }
}
