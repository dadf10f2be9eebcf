pub mod local;
pub mod remote_shell;
pub mod ssh;
