//! How a task's loop is written: which keyword (`loop`, `with_items`, ...)
//! and its `loop_control`.
//!
//! These are the parsed shape of a loop, kept apart from the loop engine in
//! `loops.rs` so that the playbook types can hold them without depending on
//! the code that expands loops at run time.

use crate::yaml::Node;

/// Which keyword wrote a task's loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoopKind {
    /// `loop` and `with_list`: the list as it is.
    #[default]
    List,
    Items,
    Dict,
    Fileglob,
    Nested,
    Together,
    Subelements,
    Sequence,
    IndexedItems,
    Lines,
    FirstFound,
}

impl LoopKind {
    /// The kind a task keyword names (`with_items`), if it is a loop keyword.
    pub fn from_keyword(key: &str) -> Option<LoopKind> {
        Some(match key {
            "loop" | "with_list" => LoopKind::List,
            "with_items" | "with_flattened" => LoopKind::Items,
            "with_dict" => LoopKind::Dict,
            "with_fileglob" => LoopKind::Fileglob,
            "with_nested" | "with_cartesian" => LoopKind::Nested,
            "with_together" => LoopKind::Together,
            "with_subelements" => LoopKind::Subelements,
            "with_sequence" => LoopKind::Sequence,
            "with_indexed_items" => LoopKind::IndexedItems,
            "with_lines" => LoopKind::Lines,
            "with_first_found" => LoopKind::FirstFound,
            _ => return None,
        })
    }

    /// The loop keywords, for "did you mean" suggestions.
    pub const KEYWORDS: &'static [&'static str] = &[
        "loop",
        "with_list",
        "with_items",
        "with_flattened",
        "with_dict",
        "with_fileglob",
        "with_nested",
        "with_cartesian",
        "with_together",
        "with_subelements",
        "with_sequence",
        "with_indexed_items",
        "with_lines",
        "with_first_found",
    ];
}

/// `loop_control` beyond `loop_var` and `label`.
#[derive(Debug, Clone, Default)]
pub struct LoopControl {
    pub index_var: Option<String>,
    /// Seconds to wait between items.
    pub pause: Option<Node>,
    /// Whether `ansible_loop` is defined.
    pub extended: Option<Node>,
    /// Whether `ansible_loop.allitems` is (default true).
    pub extended_allitems: Option<Node>,
}
