//! The cost of one more host: the slope of wall time against fleet size
//! between each pair of consecutive sizes measured, beside the least-squares
//! line of the whole series (`report::fit`). The segments show where a row
//! stops being linear (a limit hit at 500 hosts that 100 did not show),
//! which one fitted line hides.

/// The slope between two consecutive measured sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// The smaller size.
    pub from: usize,
    /// The larger size.
    pub to: usize,
    /// Seconds per extra host between them.
    pub per_host_s: f64,
}

/// The slopes between consecutive sizes of `points` (size, seconds), in
/// increasing size; points of the same size after the first are ignored, so
/// every segment spans at least one host.
pub fn segments(points: &[(usize, f64)]) -> Vec<Segment> {
    let mut sorted = points.to_vec();
    sorted.sort_by_key(|&(n, _)| n);
    sorted.dedup_by_key(|&mut (n, _)| n);
    sorted
        .windows(2)
        .map(|pair| {
            let ((from, a), (to, b)) = (pair[0], pair[1]);
            Segment {
                from,
                to,
                per_host_s: (b - a) / (to - from) as f64,
            }
        })
        .collect()
}

/// The segments as one table cell: `18.2 (10→50), 20.1 (50→100)` in
/// milliseconds per host, or `–` when fewer than two sizes were measured.
pub fn cell(segments: &[Segment]) -> String {
    if segments.is_empty() {
        return "–".to_string();
    }
    segments
        .iter()
        .map(|s| format!("{:.1} ({}→{})", s.per_host_s * 1e3, s.from, s.to))
        .collect::<Vec<_>>()
        .join(", ")
}
