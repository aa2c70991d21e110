//! BENCHMARKS.svg: MB/s by message size, one line per series, log scales.

use std::path::Path;

use plotters::prelude::*;

use crate::SIZES;
use crate::report::Report;

pub(crate) fn draw(report: &Report, path: &Path) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = report
        .series
        .iter()
        .flat_map(|s| (0..SIZES.len()).map(|i| s.mb_per_sec(i)))
        .fold(1.0, f64::max);
    let min = report
        .series
        .iter()
        .flat_map(|s| (0..SIZES.len()).map(|i| s.mb_per_sec(i)))
        .filter(|v| *v > 0.0)
        .fold(max, f64::min);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "seal + open throughput, one thread, in memory (MB/s)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (SIZES[0] as f64..SIZES[SIZES.len() - 1] as f64).log_scale(),
            ((min / 2.0).max(1.0)..max * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("message size (bytes)")
        .y_desc("MB/s")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    let colors = [BLACK, RGBColor(128, 128, 128), BLUE, GREEN, RED];
    for (s, color) in report.series.iter().zip(colors) {
        let points: Vec<(f64, f64)> = (0..SIZES.len())
            .map(|i| (SIZES[i] as f64, s.mb_per_sec(i).max(1.0)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(s.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}
