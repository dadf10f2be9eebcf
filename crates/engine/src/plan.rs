//! Pure planning helpers: which hosts run together.

use crate::playbook::BatchSize;

/// Splits hosts into `serial` batches; the last size repeats.
pub fn batches(hosts: &[String], serial: &[BatchSize]) -> Vec<Vec<String>> {
    if serial.is_empty() {
        return vec![hosts.to_vec()];
    }
    let mut out = Vec::new();
    let mut rest = hosts;
    let mut i = 0;
    while !rest.is_empty() {
        let size = match &serial[i.min(serial.len() - 1)] {
            BatchSize::Count(n) => *n,
            BatchSize::Percent(p) => ((hosts.len() as f64) * p / 100.0).floor().max(1.0) as usize,
        }
        .clamp(1, rest.len());
        out.push(rest[..size].to_vec());
        rest = &rest[size..];
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i}")).collect()
    }

    #[test]
    fn serial_batches_repeat_the_last_size() {
        let b = batches(&names(7), &[BatchSize::Count(1), BatchSize::Count(3)]);
        let sizes: Vec<usize> = b.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![1, 3, 3]);
        let p = batches(&names(10), &[BatchSize::Percent(30.0)]);
        assert_eq!(p.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 3, 1]);
        assert_eq!(batches(&names(2), &[]).len(), 1);
    }
}
