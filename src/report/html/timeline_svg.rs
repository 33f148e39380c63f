//! One computer's story as an inline SVG: a lane per kind of fact (OS level, Exchange build,
//! installs, KMS and ESE events, services and shutdowns, the fix) on a linear time axis.
//! Marks closer than a few pixels merge into one mark with a count; every mark links to its
//! row in the timeline table. Shapes and labels, not colour alone, tell the kinds apart.

use super::escape::escape;
use super::scale::Scale;
use crate::correlate::{Fact, TimelineEntry};
use crate::report::{AppliedFix, HostFacts, Report};
use chrono::{DateTime, Utc};
use std::fmt::Write;

/// Drawing units (the SVG scales to the page's width).
const WIDTH: f64 = 960.0;
const PLOT_X0: f64 = 178.0;
const PLOT_X1: f64 = 944.0;
const LANE_HEIGHT: f64 = 34.0;
const TOP: f64 = 6.0;
const AXIS_HEIGHT: f64 = 30.0;
/// Marks of one kind closer than this merge into one mark with a count.
const CLUSTER_PIXELS: f64 = 12.0;
/// Rough width of a label character at the drawing's font size, to decide what fits.
const CHAR_WIDTH: f64 = 6.4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Lane {
    Os,
    Exchange,
    Installs,
    Kms,
    Ese,
    Services,
    Fix,
}

impl Lane {
    fn title(self) -> &'static str {
        match self {
            Lane::Os => "OS level",
            Lane::Exchange => "Exchange build",
            Lane::Installs => "Installs",
            Lane::Kms => "KMS events",
            Lane::Ese => "ESE errors",
            Lane::Services => "Services, shutdowns",
            Lane::Fix => "Fix",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Lane::Os => "os",
            Lane::Exchange => "exchange",
            Lane::Installs => "installs",
            Lane::Kms => "kms",
            Lane::Ese => "ese",
            Lane::Services => "services",
            Lane::Fix => "fix",
        }
    }
}

/// Mark shapes; the legend names each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Bar,
    Diamond,
    Circle,
    Square,
    Up,
    Down,
    Cross,
    Star,
}

/// The legend under every drawing: each shape and what it stands for.
pub const LEGEND: [(Shape, &str); 8] = [
    (Shape::Bar, "boot"),
    (Shape::Diamond, "service pack, hotfix or setup run"),
    (Shape::Circle, "KMS event"),
    (Shape::Square, "ESE index-cleanup or checksum event"),
    (Shape::Up, "service running"),
    (Shape::Down, "clean shutdown"),
    (
        Shape::Cross,
        "failure: service, setup run or unexpected shutdown",
    ),
    (Shape::Star, "fix applied by evtdoctor fix"),
];

/// Where a fact is drawn, with which shape; `None` for facts only the table lists.
fn placement(fact: &Fact) -> Option<(Lane, Shape)> {
    Some(match fact {
        Fact::Boot { .. } => (Lane::Os, Shape::Bar),
        Fact::ServicePackInstalled { .. } | Fact::HotfixInstalled { .. } => {
            (Lane::Installs, Shape::Diamond)
        }
        Fact::SetupRun {
            succeeded: Some(false),
            ..
        } => (Lane::Installs, Shape::Cross),
        Fact::SetupRun { .. } => (Lane::Installs, Shape::Diamond),
        Fact::KmsEvent { .. } => (Lane::Kms, Shape::Circle),
        Fact::DatabaseEvent { .. } if fact.is_highlight() => (Lane::Ese, Shape::Square),
        Fact::ServiceRunning { .. } => (Lane::Services, Shape::Up),
        Fact::CleanShutdown => (Lane::Services, Shape::Down),
        Fact::ServiceFailed { .. } | Fact::UnexpectedShutdown => (Lane::Services, Shape::Cross),
        _ => return None,
    })
}

/// A scale from `start` to `end` over the drawing's plot area.
pub fn plot_scale(start: DateTime<Utc>, end: DateTime<Utc>, pad: f64) -> Scale {
    Scale::new(start, end, pad, PLOT_X0, PLOT_X1)
}

/// Marks of one kind that merge at this zoom: the first links to the table.
struct Cluster<'a> {
    lane: Lane,
    shape: Shape,
    x: f64,
    first: (usize, &'a TimelineEntry),
    last: &'a TimelineEntry,
    count: usize,
}

/// What one drawing shows: a computer's entries (with their index in the report's
/// timeline) over a span of time.
pub struct Drawing<'a> {
    /// Unique within the page (ids of the title and description).
    pub id: String,
    pub report: &'a Report,
    pub host: &'a HostFacts,
    pub entries: Vec<(usize, &'a TimelineEntry)>,
    pub scale: Scale,
    pub fix: Option<&'a AppliedFix>,
    /// "overview" or "zoom", for readers and tests.
    pub view: &'static str,
}

impl Drawing<'_> {
    fn lanes(&self) -> Vec<Lane> {
        let mut lanes = vec![
            Lane::Os,
            Lane::Exchange,
            Lane::Installs,
            Lane::Kms,
            Lane::Ese,
            Lane::Services,
        ];
        if self.fix.is_some() {
            lanes.push(Lane::Fix);
        }
        lanes
    }

    fn lane_y(&self, lane: Lane) -> f64 {
        let index = self.lanes().iter().position(|l| *l == lane).unwrap_or(0);
        TOP + index as f64 * LANE_HEIGHT + LANE_HEIGHT / 2.0
    }

    pub fn render(&self, out: &mut String) {
        let lanes = self.lanes();
        let height = TOP + lanes.len() as f64 * LANE_HEIGHT + AXIS_HEIGHT;
        let title_id = format!("{}-title", self.id);
        let desc_id = format!("{}-desc", self.id);
        let _ = write!(
            out,
            "<svg class=\"timeline\" data-view=\"{}\" viewBox=\"0 0 {WIDTH} {height}\" \
             role=\"group\" aria-labelledby=\"{title_id} {desc_id}\" \
             xmlns=\"http://www.w3.org/2000/svg\">\n<title id=\"{title_id}\">{}</title>\n\
             <desc id=\"{desc_id}\">{}</desc>\n",
            self.view,
            escape(&format!(
                "Timeline of {} from {} to {} ({})",
                self.host.computer,
                self.report.show_time(Some(self.scale.start)),
                self.report.show_time(Some(self.scale.end)),
                self.report.time_zone
            )),
            escape(&self.description()),
        );
        self.render_grid(out, &lanes, height);
        // Span labels go over the marks (boots cross the OS spans).
        let mut labels = String::new();
        self.render_spans(out, &mut labels);
        for cluster in self.clusters() {
            self.render_cluster(out, &cluster);
        }
        out.push_str(&labels);
        if let Some(fix) = self.fix {
            self.render_fix(out, fix);
        }
        out.push_str("</svg>\n");
    }

    /// Lane bands and titles, tick lines and their labels.
    fn render_grid(&self, out: &mut String, lanes: &[Lane], height: f64) {
        for (i, lane) in lanes.iter().enumerate() {
            let y = TOP + i as f64 * LANE_HEIGHT;
            let _ = writeln!(
                out,
                "<rect class=\"lane lane-{}\" x=\"0\" y=\"{y}\" width=\"{WIDTH}\" height=\"{LANE_HEIGHT}\"/>\
                 <text class=\"lane-title\" x=\"6\" y=\"{:.1}\">{}</text>",
                i % 2,
                y + LANE_HEIGHT / 2.0 + 4.0,
                lane.title()
            );
        }
        let axis_y = height - AXIS_HEIGHT;
        for (time, label) in self.scale.ticks(self.report.offset) {
            let x = self.scale.x(time);
            let _ = writeln!(
                out,
                "<line class=\"tick\" x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
                 <text class=\"tick-label\" x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
                axis_y + 4.0,
                axis_y + 18.0,
                escape(&label)
            );
        }
        let (x0, x1) = self.scale.x_range();
        let _ = writeln!(
            out,
            "<line class=\"axis\" x1=\"{x0}\" y1=\"{axis_y}\" x2=\"{x1}\" y2=\"{axis_y}\"/>"
        );
    }

    /// OS levels (from the boots) and Exchange builds (from the records naming them) as
    /// labelled spans; a level runs from its first boot to the next level's.
    fn render_spans(&self, out: &mut String, labels: &mut String) {
        let periods = &self.host.os_history;
        for (i, period) in periods.iter().enumerate() {
            let Some(start) = period.first_boot else {
                continue;
            };
            let end = periods
                .get(i + 1)
                .and_then(|next| next.first_boot)
                .unwrap_or(self.scale.end);
            let short = match period.os.service_pack {
                0 => period.os.build.to_string(),
                sp => format!("SP{sp}"),
            };
            let title = format!(
                "{}: {} boot(s) from {} to {}",
                period.label,
                period.boots,
                self.report.show_time(period.first_boot),
                self.report.show_time(period.last_boot)
            );
            self.render_span(
                (out, labels),
                Lane::Os,
                i,
                (start, end),
                &[&period.label, &short],
                &title,
            );
        }
        for (i, (build, start, end)) in self.build_spans().into_iter().enumerate() {
            let described = self
                .host
                .exchange_builds
                .iter()
                .find(|b| b.build.to_string() == build)
                .map(|b| format!("{build} ({})", b.description))
                .unwrap_or_else(|| build.clone());
            let title = format!(
                "Exchange {described}: named by records from {} to {}",
                self.report.show_time(Some(start)),
                self.report.show_time(Some(end))
            );
            self.render_span(
                (out, labels),
                Lane::Exchange,
                i,
                (start, end),
                &[&described, &build],
                &title,
            );
        }
    }

    /// Each Exchange build from the first to the last record naming it, in order of first sight.
    fn build_spans(&self) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
        let mut spans: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for (_, entry) in &self.entries {
            let (Some(time), Some(build)) = (entry.time, build_of(&entry.fact)) else {
                continue;
            };
            let build = build.to_string();
            match spans.iter_mut().find(|(b, _, _)| *b == build) {
                Some(span) => span.2 = span.2.max(time),
                None => spans.push((build, time, time)),
            }
        }
        spans
    }

    /// A span clipped to the drawing, with the first label that fits inside it.
    fn render_span(
        &self,
        (out, label_out): (&mut String, &mut String),
        lane: Lane,
        index: usize,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        labels: &[&str],
        title: &str,
    ) {
        let (x0, x1) = self.scale.x_range();
        let left = self.scale.x(start).clamp(x0, x1);
        let right = self.scale.x(end).clamp(x0, x1).max(left + 3.0);
        if self.scale.x(end) < x0 || self.scale.x(start) > x1 {
            return;
        }
        let y = self.lane_y(lane);
        let _ = writeln!(
            out,
            "<g class=\"span span-{} span-{}\"><title>{}</title>\
             <rect x=\"{left:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"20\" rx=\"3\"/></g>",
            lane.name(),
            index % 2,
            escape(title),
            y - 10.0,
            right - left
        );
        let room = right - left - 10.0;
        if let Some(label) = labels.iter().find(|l| l.len() as f64 * CHAR_WIDTH <= room) {
            let _ = writeln!(
                label_out,
                "<text class=\"span-label span-{} span-{}\" x=\"{:.1}\" y=\"{:.1}\" \
                 aria-hidden=\"true\">{}</text>",
                lane.name(),
                index % 2,
                left + 6.0,
                y + 4.0,
                escape(label)
            );
        }
    }

    /// The drawn entries in the span, merged per lane and shape where they would overlap.
    fn clusters(&self) -> Vec<Cluster<'_>> {
        let mut marks: Vec<(Lane, Shape, f64, usize, &TimelineEntry)> = self
            .entries
            .iter()
            .filter_map(|&(index, entry)| {
                let time = entry.time.filter(|t| self.scale.contains(*t))?;
                let (lane, shape) = placement(&entry.fact)?;
                Some((lane, shape, self.scale.x(time), index, entry))
            })
            .collect();
        marks.sort_by(|a, b| (a.0, a.2).partial_cmp(&(b.0, b.2)).unwrap_or(a.0.cmp(&b.0)));
        let mut clusters: Vec<Cluster<'_>> = Vec::new();
        for (lane, shape, x, index, entry) in marks {
            let joins = clusters
                .iter_mut()
                .rev()
                .find(|c| c.lane == lane && c.shape == shape);
            match joins {
                Some(c) if x - c.x < CLUSTER_PIXELS => {
                    c.count += 1;
                    c.last = entry;
                }
                _ => clusters.push(Cluster {
                    lane,
                    shape,
                    x,
                    first: (index, entry),
                    last: entry,
                    count: 1,
                }),
            }
        }
        clusters
    }

    fn render_cluster(&self, out: &mut String, cluster: &Cluster<'_>) {
        let (index, first) = cluster.first;
        let label = if cluster.count == 1 {
            format!("{}: {}", self.report.show_time(first.time), first.summary)
        } else {
            format!(
                "{} records from {} to {}; first: {}",
                cluster.count,
                self.report.show_time(first.time),
                self.report.show_time(cluster.last.time),
                first.summary
            )
        };
        let y = self.lane_y(cluster.lane);
        let _ = write!(
            out,
            "<a class=\"mark mark-{}\" href=\"#t{index}\" data-lane=\"{}\" data-count=\"{}\" \
             aria-label=\"{}\"><title>{}</title>",
            cluster.lane.name(),
            cluster.lane.name(),
            cluster.count,
            escape(&label),
            escape(&label)
        );
        draw_shape(out, cluster.shape, cluster.x, y);
        if cluster.count > 1 {
            let _ = write!(
                out,
                "<text class=\"count\" x=\"{:.1}\" y=\"{:.1}\">×{}</text>",
                cluster.x + 8.0,
                y - 6.0,
                cluster.count
            );
        }
        out.push_str("</a>\n");
    }

    /// The fix's mark; a fix after the drawn span sits at its right end, dated.
    fn render_fix(&self, out: &mut String, fix: &AppliedFix) {
        let (x0, x1) = self.scale.x_range();
        let (x, text) = match fix.time {
            Some(t) if self.scale.contains(t) => (self.scale.x(t), "fixed".to_owned()),
            Some(t) if t > self.scale.end => (x1 - 8.0, format!("fixed {} →", date(self, t))),
            Some(t) => (x0 + 8.0, format!("← fixed {}", date(self, t))),
            None => (x1 - 8.0, "fixed (time unknown)".to_owned()),
        };
        let label = format!(
            "{} fixed by evtdoctor fix at {} (backup {})",
            fix.database,
            self.report.show_time(fix.time),
            fix.backup
        );
        let y = self.lane_y(Lane::Fix);
        let _ = write!(
            out,
            "<a class=\"mark mark-fix\" href=\"#applied-fix\" data-lane=\"fix\" data-count=\"1\" \
             aria-label=\"{}\"><title>{}</title>",
            escape(&label),
            escape(&label)
        );
        draw_shape(out, Shape::Star, x, y);
        let anchor = if x > (x0 + x1) / 2.0 { "end" } else { "start" };
        let dx = if anchor == "end" { -10.0 } else { 10.0 };
        let _ = writeln!(
            out,
            "<text class=\"count\" text-anchor=\"{anchor}\" x=\"{:.1}\" y=\"{:.1}\">{}</text></a>",
            x + dx,
            y + 4.0,
            escape(&text)
        );
    }

    /// The drawing in words, for screen readers and for readers who cannot see colour.
    fn description(&self) -> String {
        let mut parts = Vec::new();
        let levels: Vec<String> = self
            .host
            .os_history
            .iter()
            .map(|p| {
                format!(
                    "{} from {} ({} boot(s))",
                    p.label,
                    self.report.show_time(p.first_boot),
                    p.boots
                )
            })
            .collect();
        if !levels.is_empty() {
            parts.push(format!("OS levels: {}", levels.join(", then ")));
        }
        let builds: Vec<String> = self.build_spans().into_iter().map(|(b, _, _)| b).collect();
        if !builds.is_empty() {
            parts.push(format!("Exchange builds: {}", builds.join(", ")));
        }
        let clusters = self.clusters();
        for lane in [Lane::Installs, Lane::Kms, Lane::Ese, Lane::Services] {
            let in_lane: Vec<&Cluster<'_>> = clusters.iter().filter(|c| c.lane == lane).collect();
            let Some(first) = in_lane.first() else {
                continue;
            };
            let count: usize = in_lane.iter().map(|c| c.count).sum();
            parts.push(format!(
                "{}: {count}, first {} ({})",
                lane.title(),
                self.report.show_time(first.first.1.time),
                first.first.1.summary
            ));
        }
        if let Some(fix) = self.fix {
            parts.push(format!(
                "Fixed by evtdoctor fix at {}",
                self.report.show_time(fix.time)
            ));
        }
        parts.join(". ") + "."
    }
}

fn date(drawing: &Drawing<'_>, time: DateTime<Utc>) -> String {
    time.with_timezone(&drawing.report.offset)
        .format("%Y-%m-%d")
        .to_string()
}

fn build_of(fact: &Fact) -> Option<&crate::knowledge::exchange::ExchangeBuild> {
    match fact {
        Fact::KmsEvent { build, .. } | Fact::DatabaseEvent { build, .. } => build.as_ref(),
        Fact::ExchangeBuildSeen { build } => Some(build),
        _ => None,
    }
}

/// A shape centred on (x, y), about 14 units across.
pub fn draw_shape(out: &mut String, shape: Shape, x: f64, y: f64) {
    let _ = match shape {
        Shape::Bar => write!(
            out,
            "<rect class=\"shape\" x=\"{:.1}\" y=\"{:.1}\" width=\"3\" height=\"22\"/>",
            x - 1.5,
            y - 11.0
        ),
        Shape::Circle => write!(
            out,
            "<circle class=\"shape\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"6\"/>"
        ),
        Shape::Square => write!(
            out,
            "<rect class=\"shape\" x=\"{:.1}\" y=\"{:.1}\" width=\"11\" height=\"11\"/>",
            x - 5.5,
            y - 5.5
        ),
        Shape::Diamond => write!(
            out,
            "<path class=\"shape\" d=\"{}\"/>",
            polygon(x, y, &[(0.0, -7.0), (7.0, 0.0), (0.0, 7.0), (-7.0, 0.0)])
        ),
        Shape::Up => write!(
            out,
            "<path class=\"shape\" d=\"{}\"/>",
            polygon(x, y, &[(0.0, -7.0), (7.0, 6.0), (-7.0, 6.0)])
        ),
        Shape::Down => write!(
            out,
            "<path class=\"shape\" d=\"{}\"/>",
            polygon(x, y, &[(0.0, 7.0), (7.0, -6.0), (-7.0, -6.0)])
        ),
        Shape::Cross => write!(
            out,
            "<rect class=\"hit\" x=\"{:.1}\" y=\"{:.1}\" width=\"14\" height=\"14\"/>\
             <path class=\"shape cross\" d=\"M{:.1},{:.1}l12,12m0,-12l-12,12\"/>",
            x - 7.0,
            y - 7.0,
            x - 6.0,
            y - 6.0
        ),
        Shape::Star => {
            let points: Vec<(f64, f64)> = (0..10)
                .map(|i| {
                    let radius = if i % 2 == 0 { 8.0 } else { 3.5 };
                    let angle = std::f64::consts::PI * (f64::from(i) / 5.0 - 0.5);
                    (radius * angle.cos(), radius * angle.sin())
                })
                .collect();
            write!(
                out,
                "<path class=\"shape\" d=\"{}\"/>",
                polygon(x, y, &points)
            )
        }
    };
}

/// An SVG path through points relative to (x, y), closed.
fn polygon(x: f64, y: f64, points: &[(f64, f64)]) -> String {
    let mut d = String::new();
    for (i, (dx, dy)) in points.iter().enumerate() {
        let _ = write!(
            d,
            "{}{:.1},{:.1}",
            if i == 0 { "M" } else { "L" },
            x + dx,
            y + dy
        );
    }
    d.push('Z');
    d
}
