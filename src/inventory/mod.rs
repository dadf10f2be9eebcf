pub mod ini;
pub mod list;
pub mod pattern;
pub mod vars_dir;
pub mod yaml;
