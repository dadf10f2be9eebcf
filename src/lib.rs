//! dtrplay: a playbook runner that makes "Integrate UCP with Docker Trusted
//! Registry" a single, safe, repeatable command.
//!
//! # Layout
//!
//! The modules are listed in the order data flows through them:
//! `cli` → `config` → `playbook` + `inventory` → `template` → `plan` →
//! `executor` → `report`. See ARCHITECTURE.md for the code map and the
//! invariants each stage keeps.

pub mod api;
pub mod cert;
pub mod cli;
pub mod config;
pub mod connection;
pub mod diff;
pub mod doctor;
pub mod error;
pub mod executor;
pub mod inventory;
pub mod lab;
pub mod params;
pub mod plan;
pub mod playbook;
pub mod report;
pub mod secret;
pub mod source;
pub mod suggest;
pub mod task;
pub mod tasks;
pub mod template;
pub mod vars;
pub mod yaml;
