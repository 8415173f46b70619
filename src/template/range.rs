//! `range` with a budget per render. Tera's own caps one call at 100,000 numbers, but a loop inside
//! a loop calls it again for every turn of the outer one: two nested ranges that write nothing ran
//! for hours, holding up every message behind them (the output cap of [`super::output`] stops only
//! loops that write). Here every render may take at most [`RANGE_BUDGET`] numbers from `range`, in
//! all its calls; past that the message fails to render, with a reason that names the loop.

use std::cell::Cell;
use tera::{Error, Kwargs, State, Tera, TeraResult};

/// Numbers `range` may produce in one render of one file, in all its calls.
pub const RANGE_BUDGET: i128 = 100_000;

thread_local! {
    /// What is left of the budget of the render running on this thread (a render runs on one).
    static LEFT: Cell<i128> = const { Cell::new(RANGE_BUDGET) };
}

/// Replaces Tera's `range` (same arguments and results) with the budgeted one.
pub fn register(tera: &mut Tera) {
    tera.register_function("range", range);
}

/// Gives the budget back in full: at the start of each render.
pub fn reset_budget() {
    LEFT.set(RANGE_BUDGET);
}

/// `range(end=5)` → 0…4; `start` (default 0) and `step_by` (default 1, may be negative), as Tera's.
fn range(kwargs: Kwargs, _: &State) -> TeraResult<Vec<i128>> {
    let start = kwargs.get::<i128>("start")?.unwrap_or_default();
    let end = kwargs.must_get::<i128>("end")?;
    let step_by = kwargs.get::<i128>("step_by")?.unwrap_or(1);
    if step_by == 0 {
        return Err(Error::message("`range` was called with `step_by` = 0"));
    }
    if start > end && step_by > 0 {
        return Err(Error::message(
            "`range` was called with a `start` greater than its `end`",
        ));
    }
    let len = count(start, end, step_by)
        .ok_or_else(|| Error::message("`range` was called with numbers too large"))?;
    let left = LEFT.get();
    if len > left {
        return Err(Error::message(format!(
            "`range` would produce {len} more numbers, past the {RANGE_BUDGET} that one message may \
             take from it in all: is a loop over a range running inside another loop?"
        )));
    }
    LEFT.set(left - len);
    Ok((0..len).map(|i| start + i * step_by).collect())
}

/// How many numbers from `start` towards `end` (excluded) by `step_by`; `None` on overflow.
fn count(start: i128, end: i128, step_by: i128) -> Option<i128> {
    if step_by > 0 {
        Some(end.checked_sub(start)?.checked_add(step_by - 1)? / step_by)
    } else if start <= end {
        Some(0)
    } else {
        let step = step_by.checked_neg()?;
        Some(start.checked_sub(end)?.checked_add(step - 1)? / step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tera::Context;

    fn render(template: &str) -> Result<String, tera::Error> {
        let mut tera = Tera::new();
        register(&mut tera);
        tera.add_raw_template("t.txt", template).unwrap();
        reset_budget();
        tera.render("t.txt", &Context::new())
    }

    #[test]
    fn it_counts_as_teras_range_does() {
        assert_eq!(
            render("{% for i in range(end=4) %}{{ i }}{% endfor %}").unwrap(),
            "0123"
        );
        assert_eq!(
            render("{% for i in range(start=10, end=0, step_by=-3) %}{{ i }},{% endfor %}")
                .unwrap(),
            "10,7,4,1,"
        );
        assert_eq!(
            render("{% for i in range(start=1, end=8, step_by=3) %}{{ i }}{% endfor %}").unwrap(),
            "147"
        );
        assert!(render("{{ range(end=3, step_by=0) }}").is_err());
        assert!(render("{{ range(start=5, end=3) }}").is_err());
    }

    #[test]
    fn nested_ranges_that_write_nothing_stop_at_the_budget() {
        let error = render(
            "{% for i in range(end=100000) %}{% for j in range(end=100000) %}{% endfor %}{% endfor %}",
        )
        .unwrap_err();
        let reason = format!("{error:?}");
        assert!(reason.contains("inside another loop"), "{reason}");
        // A star rating in a loop over products is far from it.
        let stars =
            "{% for p in range(end=50) %}{% for s in range(end=5) %}*{% endfor %}{% endfor %}";
        assert_eq!(render(stars).unwrap().len(), 250);
        // The budget is per render, not per thread forever.
        for _ in 0..3 {
            assert!(render("{% for i in range(end=60000) %}{% endfor %}").is_ok());
        }
    }
}
