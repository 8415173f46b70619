//! Custom attributes and event properties from CSV cells: names normalised to identifiers segments can
//! use, values typed so that numbers stay numbers and `true`/`false` stay booleans.

use serde_json::Value;

/// `"First Name"` → `first_name`, `"Zip/Postal"` → `zip_postal`: lower case, every run of characters that
/// are not letters or digits becomes one underscore. Returns `None` when nothing is left.
pub fn normalize_column_name(raw: &str) -> Option<String> {
    let mut out = String::new();
    for c in raw.trim().trim_start_matches('\u{feff}').chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_string();
    (!out.is_empty()).then_some(out)
}

/// Types a non-empty cell: plain decimal numbers become numbers (but not `007` or 20-digit ids, which
/// would lose their zeros or digits), `true`/`false` become booleans, everything else stays text as
/// written, without surrounding spaces. Returns `None` for an empty or blank cell: empty cells are absent, not empty strings.
pub fn attribute_value(cell: &str) -> Option<Value> {
    let text = cell.trim();
    if text.is_empty() {
        return None;
    }
    if text.eq_ignore_ascii_case("true") {
        return Some(Value::Bool(true));
    }
    if text.eq_ignore_ascii_case("false") {
        return Some(Value::Bool(false));
    }
    if let Some(number) = plain_number(text) {
        return Some(number);
    }
    Some(Value::String(text.to_string()))
}

fn plain_number(text: &str) -> Option<Value> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    if int.len() > 1 && int.starts_with('0') {
        return None;
    }
    if int.len() + frac.map_or(0, str::len) > 15 {
        return None;
    }
    match frac {
        None => text.parse::<i64>().ok().map(Value::from),
        Some(_) => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn column_names_become_identifiers() {
        assert_eq!(
            normalize_column_name(" First Name ").as_deref(),
            Some("first_name")
        );
        assert_eq!(
            normalize_column_name("\u{feff}email").as_deref(),
            Some("email")
        );
        assert_eq!(
            normalize_column_name("Zip/Postal code").as_deref(),
            Some("zip_postal_code")
        );
        assert_eq!(normalize_column_name(" - "), None);
    }

    #[test]
    fn numbers_stay_numbers_and_codes_stay_text() {
        assert_eq!(attribute_value("42"), Some(json!(42)));
        assert_eq!(attribute_value("-3.5"), Some(json!(-3.5)));
        assert_eq!(attribute_value("TRUE"), Some(json!(true)));
        assert_eq!(attribute_value("02134"), Some(json!("02134")));
        assert_eq!(attribute_value("+15035550100"), Some(json!("+15035550100")));
        assert_eq!(
            attribute_value("12345678901234567890"),
            Some(json!("12345678901234567890"))
        );
        assert_eq!(
            attribute_value("=HYPERLINK(\"x\")"),
            Some(json!("=HYPERLINK(\"x\")"))
        );
        assert_eq!(attribute_value("  "), None);
    }
}
