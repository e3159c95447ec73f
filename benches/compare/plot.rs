//! PNG plots of the curves, drawn with plotters' bitmap backend. Text is drawn with a
//! bundled font (DejaVu Sans cut down to ASCII and a few signs, `DejaVuSans-ascii.ttf`
//! beside this file, license in `DejaVuSans-LICENSE.txt`) through plotters' `ab_glyph`
//! feature, so no system fontconfig or freetype is needed.
//!
//! - `concurrency.png`: throughput and p99 against tasks, log-log.
//! - `sizes-<op>-<T>t.png`: bytes/s and client CPU per MB against value size, log-log.
//!
//! One line per client configuration, with the raw reference drawn as its best
//! configuration at each point (the limit), and so is the floor of one task per caller.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::{ClientSummary, ScenarioSummary, rate, size};

static FONT: &[u8] = include_bytes!("DejaVuSans-ascii.ttf");

struct Series {
    label: String,
    points: Vec<(f64, f64)>,
}

/// Collects one series per client label (the reference as one line), with `y` from
/// each scenario's client summary, at `x` from the scenario.
fn series(
    rows: &[&ScenarioSummary],
    x: impl Fn(&ScenarioSummary) -> f64,
    y: impl Fn(&ClientSummary) -> Option<f64>,
) -> Vec<Series> {
    let mut by_label: BTreeMap<(u8, String), Vec<(f64, f64)>> = BTreeMap::new();
    for s in rows {
        for c in &s.clients {
            let key = match c.family {
                "raw" if s.reference.as_deref() == Some(c.label.as_str()) => {
                    (0, "raw reference (best config)".to_string())
                }
                "raw" => continue,
                "raw-tasks" if s.best_of("raw-tasks").map(|b| &b.label) == Some(&c.label) => {
                    (0, "floor: a task per caller (best config)".to_string())
                }
                "raw-tasks" => continue,
                "mcaside" => (1, c.label.clone()),
                _ => (2, c.label.clone()),
            };
            if let Some(v) = y(c).filter(|v| v.is_finite() && *v > 0.0) {
                by_label.entry(key).or_default().push((x(s), v));
            }
        }
    }
    by_label
        .into_iter()
        .map(|((_, label), mut points)| {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series { label, points }
        })
        .collect()
}

fn bounds(series: &[Series]) -> Option<(f64, f64, f64, f64)> {
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    let mut any = false;
    for &(x, y) in pts {
        any = true;
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    // Log axes need room on both sides, also when there is one point.
    any.then(|| (x0 / 1.5, x1 * 1.5, y0 / 2.0, y1 * 2.0))
}

/// How one panel is labelled.
struct Axes<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    x_fmt: &'a dyn Fn(&f64) -> String,
    y_fmt: &'a dyn Fn(&f64) -> String,
    /// Where the legend goes: where the curves usually leave room.
    legend: SeriesLabelPosition,
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    axes: &Axes<'_>,
    series: &[Series],
) -> Result<(), Box<dyn Error>> {
    let Some((x0, x1, y0, y1)) = bounds(series) else {
        return Ok(());
    };
    let mut chart = ChartBuilder::on(area)
        .caption(axes.title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?;
    chart
        .configure_mesh()
        .x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .x_label_formatter(axes.x_fmt)
        .y_label_formatter(axes.y_fmt)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).mix(0.95);
        let style = ShapeStyle::from(&color).stroke_width(2);
        chart
            .draw_series(LineSeries::new(s.points.clone(), style))?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style));
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(axes.legend.clone())
        .label_font(("sans-serif", 13))
        .draw()?;
    Ok(())
}

fn two_panels(
    path: &Path,
    caption: &str,
    draw: impl FnOnce(
        &DrawingArea<BitMapBackend<'_>, Shift>,
        &DrawingArea<BitMapBackend<'_>, Shift>,
    ) -> Result<(), Box<dyn Error>>,
) -> Result<(), Box<dyn Error>> {
    let root = BitMapBackend::new(path, (1500, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(34);
    top.titled(caption, ("sans-serif", 17))?;
    let (left, right) = body.split_horizontally(750);
    draw(&left, &right)?;
    root.present()?;
    Ok(())
}

/// Draws every plot the summaries allow into `dir`; returns the files written.
pub fn write_all(
    dir: &Path,
    all: &[ScenarioSummary],
    note: &str,
) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| "the bundled font does not load")?;
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let tasks_fmt = |x: &f64| format!("{x:.0}");
    let rate_fmt = |y: &f64| rate(*y);
    let us_fmt = |y: &f64| {
        if *y >= 10.0 {
            format!("{y:.0}")
        } else {
            format!("{y:.2}")
        }
    };
    let latency_fmt = |y: &f64| match *y {
        y if y >= 10_000.0 => format!("{:.0} ms", y / 1000.0),
        y if y >= 1000.0 => format!("{:.1} ms", y / 1000.0),
        y => format!("{y:.0} µs"),
    };

    let conc: Vec<&ScenarioSummary> = all.iter().filter(|s| s.group == "concurrency").collect();
    if !conc.is_empty() {
        let path = dir.join("concurrency.png");
        let unit = conc[0].unit;
        let through = series(&conc, |s| s.tasks as f64, |c| c.rate.map(|r| r.median));
        let p99 = series(&conc, |s| s.tasks as f64, |c| c.p99_us);
        two_panels(
            &path,
            &format!("get, 100 B values, by concurrency. {note}"),
            |l, r| {
                panel(
                    l,
                    &Axes {
                        title: &format!("throughput ({unit}, median of rounds)"),
                        x_desc: "tasks",
                        y_desc: unit,
                        x_fmt: &tasks_fmt,
                        y_fmt: &rate_fmt,
                        legend: SeriesLabelPosition::LowerRight,
                    },
                    &through,
                )?;
                panel(
                    r,
                    &Axes {
                        title: "p99 latency (all rounds)",
                        x_desc: "tasks",
                        y_desc: "p99",
                        x_fmt: &tasks_fmt,
                        y_fmt: &latency_fmt,
                        legend: SeriesLabelPosition::UpperLeft,
                    },
                    &p99,
                )
            },
        )?;
        written.push(path);
    }

    let sizes: Vec<&ScenarioSummary> = all.iter().filter(|s| s.group == "sizes").collect();
    let mut combos: Vec<(String, usize)> = sizes.iter().map(|s| (s.op.clone(), s.tasks)).collect();
    combos.sort();
    combos.dedup();
    for (op, tasks) in combos {
        let rows: Vec<&ScenarioSummary> = sizes
            .iter()
            .copied()
            .filter(|s| s.op == op && s.tasks == tasks)
            .collect();
        let path = dir.join(format!("sizes-{op}-{tasks}t.png"));
        let mbs = series(
            &rows,
            |s| s.value_size as f64,
            |c| c.bytes_per_sec.map(|b| b.median / 1e6),
        );
        let cpu = series(
            &rows,
            |s| s.value_size as f64,
            |c| c.cpu_us_per_mb.map(|x| x.median),
        );
        let size_fmt = |x: &f64| size(x.round() as usize);
        two_panels(
            &path,
            &format!(
                "{op}, {tasks} task{}, by value size. {note}",
                if tasks == 1 { "" } else { "s" }
            ),
            |l, r| {
                panel(
                    l,
                    &Axes {
                        title: "value throughput (MB/s, median of rounds)",
                        x_desc: "value size",
                        y_desc: "MB/s",
                        x_fmt: &size_fmt,
                        y_fmt: &us_fmt,
                        legend: SeriesLabelPosition::LowerRight,
                    },
                    &mbs,
                )?;
                panel(
                    r,
                    &Axes {
                        title: "client CPU per MB of values",
                        x_desc: "value size",
                        y_desc: "µs per MB",
                        x_fmt: &size_fmt,
                        y_fmt: &us_fmt,
                        legend: SeriesLabelPosition::UpperRight,
                    },
                    &cpu,
                )
            },
        )?;
        written.push(path);
    }
    Ok(written)
}
