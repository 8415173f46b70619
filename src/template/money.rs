//! Amounts of money written the way the reader's locale writes them: `$1,234.50` for `en-US`,
//! `1 234,50 €` for `fr`, `1.234,50 €` for `de`. The currency is the shop's (an argument), the
//! format the customer's (their locale); unknown locales read like English.

/// Separators and symbol placement of one locale family.
struct Format {
    group: &'static str,
    decimal: char,
    symbol_after: bool,
}

const ENGLISH: Format = Format {
    group: ",",
    decimal: '.',
    symbol_after: false,
};

fn format_of(locale: &str) -> Format {
    let lower = locale.to_ascii_lowercase().replace('_', "-");
    let language = lower.split('-').next().unwrap_or_default();
    match language {
        // French groups with a narrow no-break space and puts the symbol after a no-break space.
        "fr" => Format {
            group: "\u{202f}",
            decimal: ',',
            symbol_after: true,
        },
        "de" | "es" | "it" | "pt" | "nl" | "da" | "id" | "tr" => Format {
            group: ".",
            decimal: ',',
            symbol_after: true,
        },
        "sv" | "nb" | "no" | "fi" | "pl" | "cs" | "ru" | "uk" => Format {
            group: "\u{a0}",
            decimal: ',',
            symbol_after: true,
        },
        _ => ENGLISH,
    }
}

/// The symbol and the number of minor digits of an ISO 4217 code; other codes print as themselves.
fn currency_of(code: &str) -> (String, usize) {
    let code = code.trim().to_ascii_uppercase();
    let symbol = match code.as_str() {
        "USD" | "CAD" | "AUD" | "NZD" | "MXN" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "CHF" => "CHF",
        "INR" => "₹",
        _ => "",
    };
    let digits = if code == "JPY" { 0 } else { 2 };
    if symbol.is_empty() {
        (code, digits)
    } else {
        (symbol.to_string(), digits)
    }
}

/// `amount` in `currency`, formatted for `locale`.
pub fn format_money(amount: f64, currency: &str, locale: &str) -> String {
    let format = format_of(locale);
    let (symbol, digits) = currency_of(currency);
    let number = format_number(amount.abs(), digits, &format);
    let sign = if amount < 0.0 && number.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        "-"
    } else {
        ""
    };
    let word_symbol = symbol.chars().all(|c| c.is_ascii_alphabetic());
    if format.symbol_after {
        format!("{sign}{number}\u{a0}{symbol}")
    } else if word_symbol {
        format!("{sign}{symbol}\u{a0}{number}")
    } else {
        format!("{sign}{symbol}{number}")
    }
}

/// Rounds to `digits` decimals through integers: exact, and far cheaper than float formatting.
fn format_number(amount: f64, digits: usize, format: &Format) -> String {
    let scale = 10_u64.pow(digits as u32);
    let minor = (amount * scale as f64).round();
    let minor = if minor.is_finite() && minor < u64::MAX as f64 {
        minor as u64
    } else {
        0
    };
    let whole = (minor / scale).to_string();
    let mut grouped = String::with_capacity(whole.len() + 8);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push_str(format.group);
        }
        grouped.push(c);
    }
    if digits > 0 {
        grouped.push(format.decimal);
        grouped.push_str(&format!("{:0digits$}", minor % scale));
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_locale_writes_money_its_own_way() {
        assert_eq!(format_money(1234.5, "USD", "en-US"), "$1,234.50");
        assert_eq!(
            format_money(1234.5, "EUR", "fr-FR"),
            "1\u{202f}234,50\u{a0}€"
        );
        assert_eq!(format_money(1234.5, "EUR", "de"), "1.234,50\u{a0}€");
        assert_eq!(format_money(1234.5, "GBP", "zz"), "£1,234.50");
        assert_eq!(format_money(-3.0, "USD", "en"), "-$3.00");
        assert_eq!(format_money(1500.0, "JPY", "en"), "¥1,500");
        assert_eq!(format_money(12.0, "SEK", "en"), "SEK\u{a0}12.00");
        assert_eq!(format_money(999999.999, "USD", "en"), "$1,000,000.00");
    }
}
