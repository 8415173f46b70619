//! Templates: the `templates/` folder compiled with Tera 2, the per-recipient context, the filters
//! for humane copy, the text part derived from HTML, and the checks `rapport check` runs.

mod check;
mod context;
mod errors;
mod filters;
pub(crate) mod html;
mod instant;
mod library;
mod money;
mod output;
mod range;
mod text;

pub use check::check_templates;
pub use context::{DEFAULT_LOCALE, Links, Sender, Shared, synthetic_customer};
pub use filters::{DEFAULT_DATE_FORMAT, relative_days};
pub use library::{EXTENSIONS, Library, Parts};
pub use money::format_money;
pub use output::{MAX_RENDERED_BYTES, one_line};
pub use text::html_to_text;
