//! `analyze --format html`: the page checked as text (self-contained, log text escaped, mark
//! counts) and in a real browser (headless Debian `chromium`): the DOM after load, JavaScript
//! off, a screenshot that is not blank, printing, and no content-security-policy violation.
//! Without chromium the browser checks say `skipped`, unless `EVTDOCTOR_REQUIRE_CORPUS=1`
//! (CI installs it).

use crate::common;
use common::Need;

use common::evtdoctor;
use evtdoctor_testkit::events::{self as scenarios, ese_event, kms_failure, write_xml};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one browser run may take before the test fails.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(180);

/// Log text that would run as a script if it were not escaped.
const HOSTILE: &str = "<script>document.title='pwned'</script>";
const HOSTILE_IMG: &str = "<img src=x onerror=\"document.title='img'\">";

/// KMS 5085 records in [`repeated_failures`].
const KMS_RECORDS: usize = 25;

/// The KB case, then KMS failing again: every 10 minutes for two hours, then once a day;
/// after that an ESE event whose strings hold markup.
fn repeated_failures() -> Vec<evtdoctor_parsers::Event> {
    let mut events = scenarios::positive();
    for i in 1..KMS_RECORDS as u32 {
        let time = if i < 12 {
            format!(
                "2003-07-05T{:02}:{:02}:00Z",
                8 + (11 + i * 10) / 60,
                (11 + i * 10) % 60
            )
        } else {
            format!("2003-07-{:02}T09:00:00Z", i - 6)
        };
        events.push(kms_failure(500 + u64::from(i), &time, "6.0.6249.0"));
    }
    events.push(ese_event(
        600,
        "2003-07-20T10:00:00Z",
        474,
        &[HOSTILE, HOSTILE_IMG],
    ));
    events
}

/// Writes the scenario and its HTML report; returns the folder and the report's path.
fn html_report(events: &[evtdoctor_parsers::Event]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args: Vec<String> = vec!["analyze".into()];
    args.extend(
        write_xml(dir.path(), events)
            .into_iter()
            .map(|p| dir.path().join(p).display().to_string()),
    );
    let report = dir.path().join("report.html");
    args.extend(["-o".into(), report.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = evtdoctor(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    (dir, report)
}

/// The values of an attribute everywhere in the text.
fn attribute_values<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let pattern = format!(" {name}=\"");
    html.match_indices(&pattern)
        .filter_map(|(at, _)| {
            let rest = &html[at + pattern.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// The part of the page from the element opening with `start` to the next `end`.
fn element<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in the page"));
    let to = html[from..].find(end).expect("element closed") + from;
    &html[from..to]
}

/// The counts of the KMS marks of the overview drawing (the first SVG).
fn kms_mark_counts(html: &str) -> Vec<usize> {
    let overview = element(
        html,
        "<svg class=\"timeline\" data-view=\"overview\"",
        "</svg>",
    );
    overview
        .split("<a ")
        .skip(1)
        .filter(|mark| mark.contains("data-lane=\"kms\""))
        .map(|mark| {
            attribute_values(&format!(" {mark}"), "data-count")[0]
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn the_page_is_self_contained_escapes_log_text_and_counts_every_kms_record() {
    let (_dir, report) = html_report(&repeated_failures());
    let html = std::fs::read_to_string(&report).unwrap();

    // Nothing leaves the file: links are fragments, nothing is loaded, and the policy says so.
    let links = attribute_values(&html, "href");
    assert!(links.len() > KMS_RECORDS, "{}", links.len());
    assert!(links.iter().all(|l| l.starts_with('#')), "{links:?}");
    assert!(attribute_values(&html, "src").is_empty());
    for loader in ["url(", "@import", "<link", "<img", "<iframe", "<object"] {
        assert!(!html.contains(loader), "{loader}");
    }
    let http: Vec<_> = html
        .match_indices("http")
        .map(|(at, _)| &html[at..at + 30])
        .collect();
    let svg_namespace = "http://www.w3.org/2000/svg\"";
    assert!(
        http.iter()
            .all(|h| h.starts_with(svg_namespace) || h.starts_with("http-equiv")),
        "{http:?}"
    );
    let csp = element(&html, "<meta http-equiv=\"Content-Security-Policy\"", ">");
    assert!(
        csp.contains("default-src 'none'; style-src 'sha256-"),
        "{csp}"
    );
    assert!(
        csp.contains("script-src 'sha256-") && !csp.contains("unsafe"),
        "{csp}"
    );

    // Log text is text: the page has its own script only.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(!html.contains("<img"));
    assert!(html.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"));

    // The drawing stands for every KMS record, repeats merged into marks with counts.
    let counts = kms_mark_counts(&html);
    assert_eq!(counts.iter().sum::<usize>(), KMS_RECORDS, "{counts:?}");
    assert!(
        counts.len() < KMS_RECORDS && counts.iter().any(|&c| c > 1),
        "{counts:?}"
    );
    assert!(html.contains("class=\"count\""));
    // Every mark links to a row of the table.
    let rows = attribute_values(&html, "id");
    for link in links.iter().filter(|l| l.starts_with("#t")) {
        assert!(rows.contains(&&link[1..]), "{link} has no row");
    }
    assert_eq!(
        html.matches("<tr id=\"t").count(),
        html.matches("data-kind=").count()
    );
    assert_eq!(html.matches("data-kind=\"kms_event\"").count(), KMS_RECORDS);
    // The drawing has text alternatives.
    let overview = element(
        &html,
        "<svg class=\"timeline\" data-view=\"overview\"",
        "</svg>",
    );
    assert!(overview.contains("<title id=\"tl0-title\">Timeline of EXCH01 from"));
    assert!(
        overview.contains("KMS events: 25, first 2003-07-05 08:11:00"),
        "{overview}"
    );
}

#[test]
fn output_file_name_picks_html_and_inputs_are_never_overwritten() {
    let (dir, report) = html_report(&scenarios::positive());
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    let system = dir.path().join("System.xml");
    let before = std::fs::read(&system).unwrap();
    let out = evtdoctor(&[
        "analyze",
        &system.display().to_string(),
        "--format",
        "html",
        "-o",
        &system.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2), "an error, not a report");
    assert!(String::from_utf8_lossy(&out.stderr).contains("the report would overwrite the input"));
    assert_eq!(std::fs::read(&system).unwrap(), before);
}

/// The browser, or `None` (the test says it was skipped) when it is not installed.
fn chromium() -> Option<PathBuf> {
    if common::needs::missing(&[Need::Program("chromium")]) {
        return None;
    }
    common::needs::on_path("chromium")
}

/// What a headless browser run gave.
struct Run {
    stdout: String,
    console: String,
}

/// Runs headless chromium on a page with its own profile; fails after [`BROWSER_TIMEOUT`].
fn browse(browser: &Path, page: &Path, args: &[&str]) -> Run {
    let profile = tempfile::tempdir().expect("profile dir");
    let stdout_path = profile.path().join("stdout");
    let stderr_path = profile.path().join("stderr");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            // the page alone: none of the browser's own calls home
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--no-pings",
        ])
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("chromium waits") {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            panic!(
                "chromium took longer than {BROWSER_TIMEOUT:?} on {}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let console = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "chromium failed: {console}");
    Run {
        stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        console,
    }
}

/// Console lines that report a content-security-policy violation (something blocked).
fn csp_violations(console: &str) -> Vec<&str> {
    console
        .lines()
        .filter(|l| l.contains("Content Security Policy"))
        .collect()
}

#[test]
fn in_the_browser_the_page_loads_with_its_script_and_shows_log_markup_as_text() {
    let Some(browser) = chromium() else { return };
    let (_dir, report) = html_report(&repeated_failures());
    let run = browse(&browser, &report, &["--dump-dom"]);
    let dom = &run.stdout;
    assert_eq!(csp_violations(&run.console), Vec::<&str>::new());
    assert!(dom.contains("Exchange KMS cannot mount its key database after Windows 2000 SP4"));
    // The script ran under the policy: it showed the filter it controls.
    assert!(
        dom.contains("<p class=\"controls\" id=\"timeline-controls\">"),
        "script did not run"
    );
    assert!(dom.contains("rows shown</output>"));
    // The hostile strings are text nodes, not elements (the DOM serializes text escaped).
    assert!(dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"));
    assert!(!dom.contains(HOSTILE) && !dom.contains("<img"));
    assert!(dom.contains("<title>evtdoctor report: Exchange KMS"));
    let counts = kms_mark_counts(dom);
    assert_eq!(counts.iter().sum::<usize>(), KMS_RECORDS, "{counts:?}");
}

/// The report with its script refused by the policy (as when scripts are off).
fn without_script(report: &Path) -> PathBuf {
    let html = std::fs::read_to_string(report).unwrap();
    let from = html.find("script-src 'sha256-").unwrap();
    let to = from + html[from..].find(';').unwrap();
    let page = report.with_file_name("no-script.html");
    std::fs::write(
        &page,
        format!("{}script-src 'none'{}", &html[..from], &html[to..]),
    )
    .unwrap();
    page
}

#[test]
fn in_the_browser_without_javascript_the_table_and_drawing_are_there() {
    let Some(browser) = chromium() else { return };
    let (_dir, report) = html_report(&repeated_failures());
    let html = std::fs::read_to_string(&report).unwrap();
    let rows = html.matches("<tr id=\"t").count();
    // Headless chromium writes no DOM, screenshot or PDF with scripts switched off
    // (--blink-settings=scriptEnabled=false), so the policy refuses the script instead.
    let run = browse(&browser, &without_script(&report), &["--dump-dom"]);
    let dom = &run.stdout;
    assert!(
        dom.contains("id=\"timeline-controls\" hidden"),
        "the script must not have run"
    );
    assert_eq!(dom.matches("<tr id=\"t").count(), rows);
    assert!(dom.contains("<svg class=\"timeline\" data-view=\"overview\""));
    assert_eq!(kms_mark_counts(dom).iter().sum::<usize>(), KMS_RECORDS);
}

/// The size of a PNG screenshot of the page.
fn screenshot_size(browser: &Path, page: &Path, dir: &Path, name: &str) -> usize {
    let png = dir.join(name);
    let shot = format!("--screenshot={}", png.display());
    browse(browser, page, &["--window-size=1200,1600", &shot]);
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    bytes.len()
}

#[test]
fn in_the_browser_the_page_paints_and_prints() {
    let Some(browser) = chromium() else { return };
    let (dir, report) = html_report(&repeated_failures());
    // A blank page of the same size compresses to almost nothing; the report does not.
    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><title>blank</title>").unwrap();
    let blank_size = screenshot_size(&browser, &blank, dir.path(), "blank.png");
    let report_size = screenshot_size(&browser, &report, dir.path(), "report.png");
    assert!(
        report_size > 20 * blank_size,
        "{report_size} vs blank {blank_size}"
    );

    let pdf = dir.path().join("report.pdf");
    browse(
        &browser,
        &report,
        &[
            "--no-pdf-header-footer",
            &format!("--print-to-pdf={}", pdf.display()),
        ],
    );
    let bytes = std::fs::read(&pdf).expect("PDF written");
    assert!(bytes.starts_with(b"%PDF-"));
    assert!(bytes.len() > 20_000, "{}", bytes.len());
}

/// HTML text back to plain text (the entities the renderer and DOM serializer write).
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The text of the element with this id (its opening tag's end to the next `<`).
fn text_of(html: &str, id: &str) -> String {
    let open = element(html, &format!("id=\"{id}\""), "</");
    unescape(&open[open.find('>').expect("tag closed") + 1..])
}

#[test]
fn every_sample_renders_and_states_the_json_verdict() {
    let browser = chromium();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut bundles: Vec<PathBuf> = std::fs::read_dir(&samples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    bundles.sort();
    assert_eq!(bundles.len(), 5);
    for bundle in bundles {
        let path = bundle.display().to_string();
        let json = evtdoctor(&["analyze", "--json", &path]);
        let verdict: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("report.html");
        let html_run = evtdoctor(&["analyze", &path, "-o", &page.display().to_string()]);
        assert_eq!(
            html_run.status.code(),
            json.status.code(),
            "{path}: same exit code"
        );
        let html = std::fs::read_to_string(&page).unwrap();
        let dom = match &browser {
            Some(browser) => browse(browser, &page, &["--dump-dom"]).stdout,
            None => html,
        };
        assert_eq!(
            text_of(&dom, "conclusion"),
            verdict["conclusion"].as_str().unwrap(),
            "{path}"
        );
        let findings = verdict["findings"].as_array().unwrap();
        assert_eq!(
            dom.matches("<article class=\"finding\"").count(),
            findings.len()
        );
        for (i, f) in findings.iter().enumerate() {
            let article = element(&dom, &format!("id=\"finding-{i}\""), "</h3>");
            assert!(article.contains(&format!(
                "data-status=\"{}\"",
                f["status"].as_str().unwrap()
            )));
            assert!(article.ends_with(f["title"].as_str().unwrap()), "{article}");
        }
    }
}

#[test]
fn a_database_fixed_by_evtdoctor_fix_is_drawn_on_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kmsmdb.edb");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/kmsmdb.edb"),
        &db,
    )
    .unwrap();
    let db = db.display().to_string();
    let fixed = evtdoctor(&["fix", "--db", &db, "--target-os", "5.0.2195 SP 4", "--yes"]);
    assert_eq!(
        fixed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&fixed.stderr)
    );
    let page = dir.path().join("report.html");
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/kms-sp4");
    let out = evtdoctor(&[
        "analyze",
        &bundle.display().to_string(),
        "--db",
        &db,
        "-o",
        &page.display().to_string(),
    ]);
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    let overview = element(
        &html,
        "<svg class=\"timeline\" data-view=\"overview\"",
        "</svg>",
    );
    // The fix ran today, long after the 2003 logs: its mark sits at the right end, dated.
    let mark = element(
        overview,
        "<a class=\"mark mark-fix\" href=\"#applied-fix\"",
        "</a>",
    );
    assert!(
        mark.contains("data-count=\"1\"") && mark.contains(">fixed 20"),
        "{mark}"
    );
    assert!(html.contains("The database still has the fixed file's SHA-256."));
    assert!(html.contains("id=\"applied-fix\"><strong>Fix applied:</strong>"));
    assert!(
        overview.contains("<text class=\"lane-title\" x=\"6\" y=\"")
            && overview.contains(">Fix</text>")
    );
}
