//! What an owner sees for each kind of mistake in a segment file: location, caret and hint.

use super::library::Library;

/// The rendered error for `source` saved as `segments/t.seg` (next to `vip` and `big`).
fn error_for(source: &str) -> String {
    let mut library = Library::default();
    library.insert("vip", "purchase.sum(amount) > 500\n");
    library.insert("t", source);
    library.rule("t").unwrap_err().to_string()
}

#[test]
fn unknown_operator_suggests_the_right_one() {
    let text = error_for("# Portland people.\ncity = \"Portland\"\n");
    assert_eq!(
        text,
        "segments/t.seg:2:6: error: unknown operator `=`\n  |\n2 | city = \"Portland\"\n  |      ^\n  = hint: did you mean `==`?"
    );
    let text = error_for("city contians \"Port\"");
    assert!(
        text.starts_with("segments/t.seg:1:6: error: unknown operator `contians`"),
        "{text}"
    );
    assert!(text.ends_with("hint: did you mean `contains`?"), "{text}");
}

#[test]
fn unknown_function_suggests_the_right_one() {
    let text = error_for("purchase.cout(30d) >= 3");
    assert!(
        text.starts_with("segments/t.seg:1:10: error: unknown function `cout`"),
        "{text}"
    );
    assert!(
        text.contains("1 | purchase.cout(30d) >= 3\n  |          ^^^^\n"),
        "{text}"
    );
    assert!(text.ends_with("hint: did you mean `count`?"), "{text}");
}

#[test]
fn unclosed_parenthesis_points_at_the_opening_one() {
    let text = error_for("visit.any(7d)\nand (purchase.any(30d) or city == \"Lyon\"\n");
    assert!(
        text.starts_with("segments/t.seg:2:5: error: this parenthesis is not closed"),
        "{text}"
    );
    assert!(
        text.contains("2 | and (purchase.any(30d) or city == \"Lyon\"\n  |     ^\n"),
        "{text}"
    );
    assert!(
        text.ends_with("hint: add `)` where the group ends"),
        "{text}"
    );
}

#[test]
fn bad_windows_say_how_to_write_one() {
    let text = error_for("purchase.any(30x)");
    assert!(
        text.starts_with("segments/t.seg:1:14: error: bad window `30x`"),
        "{text}"
    );
    assert!(
        text.contains("hint: write a whole number and a unit: 7d (days)"),
        "{text}"
    );
    let text = error_for("purchase.count(30) >= 1");
    assert!(
        text.starts_with("segments/t.seg:1:16: error: bad window `30`: it has no unit"),
        "{text}"
    );
    let text = error_for("created_at before 90d");
    assert!(
        text.contains("error: expected `ago`, but the rule ends here"),
        "{text}"
    );
}

#[test]
fn unknown_segment_reference_suggests_a_close_name() {
    let text = error_for("segment(\"vpi\") and city == \"Lyon\"");
    assert!(
        text.starts_with("segments/t.seg:1:1: error: unknown segment \"vpi\""),
        "{text}"
    );
    assert!(text.contains("  | ^^^^^^^^^^^^^^\n"), "{text}");
    assert!(text.ends_with("hint: did you mean \"vip\"?"), "{text}");
}

#[test]
fn cyclic_references_are_errors_naming_the_cycle() {
    let mut library = Library::default();
    library.insert("a", "# A.\nvisit.any() or segment(\"b\")\n");
    library.insert("b", "segment(\"c\")\n");
    library.insert("c", "city == \"Lyon\" and segment(\"a\")\n");
    let text = library.rule("a").unwrap_err().to_string();
    assert!(
        text.starts_with("segments/c.seg:1:20: error: cyclic segment reference: a → b → c → a"),
        "{text}"
    );
    let itself = error_for("segment(\"t\")");
    assert!(
        itself.contains("cyclic segment reference: t → t"),
        "{itself}"
    );
}

#[test]
fn type_mismatches_are_caught_before_any_query() {
    let text = error_for("purchase.count(30d) == \"x\"");
    assert_eq!(
        text,
        "segments/t.seg:1:24: error: type mismatch: count(…) is a number, but this is text\n  |\n1 | purchase.count(30d) == \"x\"\n  |                        ^^^\n  = hint: compare it with a number, e.g. purchase.count(…) >= 3"
    );
    assert!(
        error_for("first_name > 3")
            .contains("type mismatch: `first_name` is text, but the value is a number")
    );
    assert!(error_for("vip < true").contains("`<` does not apply to a boolean"));
    assert!(error_for("created_at == \"2026\"").contains("type mismatch: `created_at` is a time"));
    assert!(error_for("city within 30d").contains("type mismatch: `city` is not a time"));
    assert!(error_for("tier in [\"gold\", 3]").contains("mixes types"));
    assert!(error_for("purchase.sum(price) > 3").contains("expected `amount`, found `price`"));
    assert!(error_for("Purchase.any()").contains("`Purchase` is not an event kind"));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = error_for(&format!(
        "{}visit.any(){}",
        "(".repeat(5000),
        ")".repeat(5000)
    ));
    assert!(text.contains("nested too deeply"), "{text}");
    let text = error_for(&format!("{}visit.any()", "not ".repeat(5000)));
    assert!(text.contains("nested too deeply"), "{text}");
}

#[test]
fn empty_files_and_stray_words_are_explained() {
    assert!(error_for("# Only a description.\n").contains("this segment has no rule"));
    let text = error_for("visit.any() purchase.any()");
    assert!(
        text.starts_with("segments/t.seg:1:13: error: unexpected `purchase`"),
        "{text}"
    );
    assert!(
        text.ends_with("hint: join conditions with `and` or `or`"),
        "{text}"
    );
}
