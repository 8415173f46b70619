//! The fenced code blocks of a documentation page, for the tests that run every example in it.

use super::repo_file;

/// A fenced block: the words after the fence (`seg file=segments/x.seg`), and the text inside.
#[derive(Debug)]
pub struct Block {
    pub info: Vec<String>,
    pub body: String,
}

impl Block {
    /// The first word after the fence: `toml`, `seg`, `console`.
    pub fn language(&self) -> &str {
        self.info.first().map_or("", String::as_str)
    }

    /// The value of `name=value` among the words after the fence.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.info
            .iter()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
    }
}

/// Every fenced block of `page` (a path from the repository root), in order.
pub fn blocks(page: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(repo_file(page)).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for line in text.lines() {
        match (line.strip_prefix("```"), current.take()) {
            (Some(_), Some(block)) => blocks.push(block),
            (Some(info), None) => {
                let info = info.split_whitespace().map(str::to_string).collect();
                current = Some(Block {
                    info,
                    body: String::new(),
                });
            }
            (None, Some(mut block)) => {
                block.body.push_str(line);
                block.body.push('\n');
                current = Some(block);
            }
            (None, None) => {}
        }
    }
    assert!(current.is_none(), "{page} has an unclosed code block");
    blocks
}
