//! latency.png: one panel per operation, the latency distribution of each
//! server as a percentile curve (min, p50, p90, p99, p99.9, max from the HDR
//! histograms in presenced-bench's JSON), on a logarithmic time axis, so a
//! person sees at a glance which server answers sooner and how long its
//! tail is.

use std::path::Path;

use anyhow::{anyhow, Context};
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Percentile points of one operation against one server, milliseconds.
#[derive(Debug, Clone)]
pub struct Curve {
    pub operation: String,
    pub server: String,
    /// min, p50, p90, p99, p99.9, max.
    pub points_ms: [f64; 6],
    /// Failed and timed-out operations (not in the curve; shown in the legend).
    pub failed: u64,
}

const LABELS: [&str; 6] = ["min", "p50", "p90", "p99", "p99.9", "max"];
const FONTS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a system TTF as "sans-serif" for plotters' ab_glyph text.
fn register_font() -> anyhow::Result<()> {
    let path = FONTS
        .iter()
        .find(|p| Path::new(p).is_file())
        .ok_or_else(|| anyhow!("no TTF font found (tried {FONTS:?}); install fonts-dejavu-core"))?;
    let bytes = std::fs::read(path).with_context(|| format!("read {path}"))?;
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{path} is not a usable font"))
}

fn color_of(server: &str) -> RGBColor {
    match server {
        "kamailio" => RGBColor(200, 60, 40),
        "presenced" => RGBColor(30, 90, 200),
        _ => RGBColor(90, 90, 90),
    }
}

/// Draws every operation's curves into `path` (PNG).
pub fn draw(path: &Path, title: &str, curves: &[Curve]) -> anyhow::Result<()> {
    register_font()?;
    let mut ops: Vec<&str> = Vec::new();
    for c in curves {
        if !ops.contains(&c.operation.as_str()) {
            ops.push(&c.operation);
        }
    }
    if ops.is_empty() {
        return Err(anyhow!("no latency figures to plot"));
    }
    let cols = ops.len().min(3);
    let rows = ops.len().div_ceil(cols);
    let (w, h) = (480 * cols as u32, 360 * rows as u32 + 50);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("draw: {e}"))?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| anyhow!("draw title: {e}"))?;
    let panels = root.split_evenly((rows, cols));
    for (op, area) in ops.iter().zip(panels.iter()) {
        let mine: Vec<&Curve> = curves.iter().filter(|c| c.operation == *op).collect();
        panel(area, op, &mine).map_err(|e| anyhow!("draw {op}: {e}"))?;
    }
    root.present()
        .map_err(|e| anyhow!("write {}: {e}", path.display()))?;
    Ok(())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn panel(
    area: &Area<'_>,
    op: &str,
    curves: &[&Curve],
) -> Result<(), DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>> {
    let all = curves.iter().flat_map(|c| c.points_ms.iter().copied());
    let (lo, hi) = all.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let lo = (lo.max(0.001) / 1.5).max(0.001);
    let hi = (hi * 1.5).max(lo * 10.0);
    let mut chart = ChartBuilder::on(area)
        .caption(op, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.2f64..5.2f64, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 0.01 && (0.0..=5.0).contains(&i) {
                LABELS[i as usize].to_owned()
            } else {
                String::new()
            }
        })
        .light_line_style(RGBColor(238, 238, 238))
        .y_labels(8)
        .x_desc("percentile")
        .y_desc("latency, ms (log)")
        .y_label_formatter(&|y| format_ms(*y))
        .draw()?;
    for c in curves {
        let color = color_of(&c.server);
        let pts: Vec<(f64, f64)> = c
            .points_ms
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64, v.max(lo)))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(if c.failed > 0 {
                format!("{} ({} failed)", c.server, c.failed)
            } else {
                c.server.clone()
            })
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn format_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.0}s", v / 1000.0)
    } else if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}
