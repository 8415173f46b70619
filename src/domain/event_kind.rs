//! Event kinds: the names of behaviour (`purchase`, `visit`) and of the engine's own `email.*` events.

/// `purchase`, `visit`, `cart.add`: lower-case words joined by `_` or `.` (input case is forgiven).
pub fn parse_event_kind(text: &str) -> Result<String, String> {
    let kind = text.to_lowercase();
    let word_ok = |w: &str| {
        w.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    if text.is_empty() {
        Err("is empty: every event needs a kind, such as purchase or visit".to_string())
    } else if kind.len() <= 64 && kind.split('.').all(word_ok) {
        Ok(kind)
    } else {
        Err(format!(
            "{text:?} is not an event kind: use lower-case words joined by _ or ., like purchase or cart.add"
        ))
    }
}
