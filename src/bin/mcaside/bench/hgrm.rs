//! The latency distribution in HdrHistogram's percentile text format (`.hgrm`), the
//! output of Java's `outputPercentileDistribution`, which HdrHistogram's plotter
//! (hdrhistogram.github.io/HdrHistogram/plotFiles.html) and other tools read.
//!
//! The layout is copied from the Java implementation, column widths included, because
//! some readers split on whitespace and some on columns: a header, a row per percentile
//! step (value, percentile as a fraction, count up to it, 1/(1-percentile)), the last
//! row without the final column (it would be infinite), and a `#[...]` footer.

use std::fmt::Write;

use hdrhistogram::Histogram;

/// Steps per halving of the distance to 100%, as in HdrHistogram's default output.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// The distribution of `hist`, whose values are in microseconds, printed in
/// milliseconds like HdrHistogram's own tools do.
pub fn render(hist: &Histogram<u64>) -> String {
    const MICROS_PER_MILLI: f64 = 1000.0;
    // HdrHistogram prints as many decimals as the histogram has significant digits.
    let d = usize::from(hist.sigfig());
    let mut out = String::new();
    let _ = write!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0;
    for v in hist.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total += v.count_since_last_iteration();
        let value = v.value_iterated_to() as f64 / MICROS_PER_MILLI;
        let q = v.quantile_iterated_to();
        if q < 1.0 {
            let _ = writeln!(
                out,
                "{value:12.d$} {q:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(out, "{value:12.d$} {q:2.12} {total:10}");
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.d$}, StdDeviation   = {:12.d$}]",
        hist.mean() / MICROS_PER_MILLI,
        hist.stdev() / MICROS_PER_MILLI
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.d$}, Total count    = {:12}]",
        hist.max() as f64 / MICROS_PER_MILLI,
        hist.len()
    );
    // The crate does not expose the sub-bucket count; HdrHistogram derives it from the
    // precision this way: the power of two that resolves 2 * 10^sigfig distinct values.
    let sub_buckets = (2 * 10u64.pow(u32::from(hist.sigfig()))).next_power_of_two();
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        sub_buckets
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_java_layout() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in 1..=1000 {
            h.record(v * 10).unwrap();
        }
        let text = render(&h);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "       0.010 0.000000000000          1           1.00"
        );
        let last = lines.iter().rev().find(|l| !l.starts_with('#')).unwrap();
        assert_eq!(*last, "      10.007 1.000000000000       1000");
        assert!(text.contains("#[Max     =       10.007, Total count    =         1000]"));
        assert!(text.contains(", SubBuckets     =         2048]"));
    }
}
