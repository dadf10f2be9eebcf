//! The single integration test binary. Each module below is one feature,
//! and reads as its specification.

mod harness;
// Lab nodes: real sshd fleets on loopback with private /etc/docker and /srv.
mod lab_nodes;
