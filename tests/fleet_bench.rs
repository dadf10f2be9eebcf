//! The fleet benchmark's pure arithmetic (benches/fleet/), which the
//! benchmark itself cannot test: it is a `harness = false` target that
//! `cargo test` never builds. The files are the benchmark's own, included
//! here unchanged.

#[path = "../benches/fleet/limits.rs"]
#[allow(dead_code)]
mod limits;
#[path = "../benches/fleet/slope.rs"]
mod slope;

use slope::{Segment, segments};

#[test]
fn the_slope_between_consecutive_sizes_is_the_cost_of_one_more_host() {
    let points = [(100, 2.5), (10, 0.3), (500, 14.5), (50, 1.1)];
    let found = segments(&points);
    let expected = [(10, 50, 0.02), (50, 100, 0.028), (100, 500, 0.03)];
    assert_eq!(found.len(), expected.len());
    for (segment, (from, to, per_host)) in found.iter().zip(expected) {
        assert_eq!((segment.from, segment.to), (from, to));
        assert!((segment.per_host_s - per_host).abs() < 1e-9, "{segment:?}");
    }
    assert_eq!(
        slope::cell(&found),
        "20.0 (10→50), 28.0 (50→100), 30.0 (100→500)"
    );
}

#[test]
fn one_size_or_a_repeated_size_gives_no_slope_and_never_divides_by_zero() {
    assert!(segments(&[]).is_empty());
    assert!(segments(&[(50, 1.0)]).is_empty());
    assert_eq!(
        segments(&[(50, 1.0), (50, 9.0), (60, 2.0)]),
        vec![Segment {
            from: 50,
            to: 60,
            per_host_s: 0.1
        }]
    );
    assert_eq!(slope::cell(&[]), "–");
}

#[test]
fn the_file_limit_is_raised_only_as_far_as_the_largest_fleet_needs() {
    let needed = limits::files_needed(500);
    assert!(needed >= 500 * 4, "{needed}");
    // Enough already: unchanged.
    assert_eq!(limits::raised_files(65536, 65536, needed, false), Ok(None));
    // A login shell's 1024 under a large hard limit: the soft one rises.
    assert_eq!(
        limits::raised_files(1024, 524288, needed, false),
        Ok(Some((needed, 524288)))
    );
    // Root may raise the hard limit too; anyone else is told what to do.
    assert_eq!(
        limits::raised_files(1024, 1024, needed, true),
        Ok(Some((needed, needed)))
    );
    let refused = limits::raised_files(1024, 1024, needed, false).unwrap_err();
    assert!(refused.contains("ulimit -Hn"), "{refused}");
    assert!(limits::processes_needed(500) > limits::processes_needed(10));
}
