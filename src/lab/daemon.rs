//! The lab's background life: `lab up` starts `lab serve` detached, `lab
//! status` probes what it recorded, and `lab down` stops exactly that.

pub mod process;
