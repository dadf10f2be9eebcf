pub mod dtr;
pub mod registry;
pub mod tls;
pub mod ucp;
