//! The order a play works through its hosts (`order:`).
//!
//! Apart from the executor because it is a pure function of the host list,
//! easy to read and to test on its own.

/// Puts a play's hosts in the order its `order` keyword asks for; the
/// inventory's order is the default.
pub(super) fn order_hosts(hosts: &mut [String], order: crate::playbook::HostOrder) {
    use crate::playbook::HostOrder;
    match order {
        HostOrder::Inventory => {}
        HostOrder::ReverseInventory => hosts.reverse(),
        HostOrder::Sorted => hosts.sort(),
        HostOrder::ReverseSorted => {
            hosts.sort();
            hosts.reverse();
        }
        HostOrder::Shuffle => {
            // A Fisher-Yates shuffle seeded by the clock: the order only
            // has to differ between runs, not to be unpredictable.
            let mut seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
                | 1;
            for i in (1..hosts.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                hosts.swap(i, (seed % (i as u64 + 1)) as usize);
            }
        }
    }
}
