//! Small helpers for the sentences rapport prints.

/// `1 file`, `2 files`, `0 files`: a count and its noun, which takes an `s` unless the count is 1.
pub fn plural(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(plural(1, "campaign"), "1 campaign");
        assert_eq!(plural(0, "error"), "0 errors");
        assert_eq!(plural(12, "warning"), "12 warnings");
    }
}
