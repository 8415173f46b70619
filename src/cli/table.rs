//! Plain-text tables for the terminal: columns padded to their widest cell.

/// Renders `rows` under `header`, two spaces between columns; columns listed in `right` are
/// right-aligned (numbers).
pub fn render(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if right.contains(&i) {
                    format!("{c:>w$}", w = widths[i])
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pads_columns() {
        let rows = vec![
            vec!["purchase".to_string(), "42.5".to_string()],
            vec!["visit".to_string(), String::new()],
        ];
        let text = super::render(&["KIND", "AMOUNT"], &rows, &[1]);
        assert_eq!(text, "KIND      AMOUNT\npurchase    42.5\nvisit");
    }
}
