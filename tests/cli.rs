//! The built `jitfit` binary end to end: reports, JSON, plots, NIST files, exit codes and
//! every kind of bad input.

use crate::support::TempDir;
use std::process::{Command, Output};

fn jitfit(args: &[&str], cache: &TempDir) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jitfit"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("JITFIT_CACHE_DIR", cache.path())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The lines of stdout (each trimmed) that `keep` picks, one per line.
fn trimmed_lines(o: &Output, keep: impl Fn(&str) -> bool) -> String {
    stdout(o).lines().map(str::trim).filter(|l| keep(l)).map(|l| format!("{l}\n")).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn fit_report_has_every_section() {
    let cache = TempDir::new("cli-report");
    let out = jitfit(&["fit", "y = b1*(1-exp[-b2*x])", "examples/data/misra1a.csv", "--p0", "b1=500,b2=1e-4"], &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout(&out);
    for section in
        ["[[Model]]", "[[Data]]", "[[Fit Statistics]]", "[[Variables]]", "[[Correlations]]", "[[Status]]", "[[Timing]]"]
    {
        assert!(report.contains(section), "{section} missing:\n{report}");
    }
    // NIST's certified values for Misra1a, to the digits the report prints.
    assert!(report.contains("b1 =      238.942 ± 2.70701"), "{report}");
    assert!(report.contains("b2 =   5.50156e-4 ± 7.26687e-6"), "{report}");
    assert!(report.contains("C(b1, b2)  = -0.9988"), "{report}");
    assert!(report.contains("converged: "), "{report}");
}

#[test]
fn json_follows_the_documented_schema() {
    let cache = TempDir::new("cli-json");
    let out = jitfit(
        &["fit", "a*exp(-b*time) + c", "examples/data/decay.csv", "--y", "signal", "--sigma", "err", "--json"],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["schema"], "jitfit.fit/1");
    for key in
        ["model", "data", "method", "loss", "status", "statistics", "parameters", "covariance", "correlation", "timing"]
    {
        assert!(!v[key].is_null(), "`{key}` missing");
    }
    assert_eq!(v["status"]["converged"], true);
    assert_eq!(v["data"]["sigma"], "err");
    let params = v["parameters"].as_array().unwrap();
    assert_eq!(params.iter().map(|p| p["name"].as_str().unwrap()).collect::<Vec<_>>(), ["a", "b", "c"]);
    let b = &params[1];
    assert!((b["value"].as_f64().unwrap() - 0.7).abs() < 0.02);
    assert!(b["stderr"].as_f64().unwrap() > 0.0);
    assert_eq!(b["initial_given"], false);
    assert_eq!(v["statistics"]["degrees_of_freedom"], 97);
    assert_eq!(v["covariance"].as_array().unwrap().len(), 3);
}

#[test]
fn plot_and_residuals_are_written() {
    let cache = TempDir::new("cli-plot");
    let dir = TempDir::new("cli-plot-out");
    let (svg, csv) = (dir.path().join("fit.svg"), dir.path().join("res.csv"));
    let out = jitfit(
        &[
            "fit",
            "y = b1*(1-exp[-b2*x])",
            "examples/data/misra1a.csv",
            "--p0",
            "b1=500,b2=1e-4",
            "--plot",
            svg.to_str().unwrap(),
            "--output-residuals",
            csv.to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.starts_with("<svg"));
    // The data (14 points), the dense fitted curve and the residuals (14 points).
    let data = svg.split(r#"<g class="data""#).nth(1).unwrap().split("</g>").next().unwrap();
    assert_eq!(data.matches("<circle").count(), 14);
    let curve = svg.split(r#"<polyline class="fit""#).nth(1).unwrap();
    assert!(curve.split("points=\"").nth(1).unwrap().split('"').next().unwrap().split(' ').count() > 300);
    let residuals = svg.split(r#"<g class="residuals""#).nth(1).unwrap().split("</g>").next().unwrap();
    assert_eq!(residuals.matches("<circle").count(), 14);
    let csv = std::fs::read_to_string(csv).unwrap();
    assert_eq!(csv.lines().next(), Some("x,y,fitted,residual"));
    assert_eq!(csv.lines().count(), 15);

    // Past 10^4 points the scatters are drawn as one span per pixel column: the SVG's size no
    // longer grows with the data (10^7 points made 820 MB).
    let many = dir.path().join("many.csv");
    let rows: String =
        (0..30_000).map(|i| format!("{},{}\n", i as f64 / 3000.0, (i % 7) as f64 + i as f64 / 3000.0)).collect();
    std::fs::write(&many, format!("x,y\n{rows}")).unwrap();
    let big_svg = dir.path().join("many.svg");
    let out = jitfit(&["fit", "a*x + b", many.to_str().unwrap(), "--plot", big_svg.to_str().unwrap()], &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let svg = std::fs::read_to_string(big_svg).unwrap();
    assert!(svg.len() < 100_000, "{} bytes", svg.len());
    assert!(!svg.contains("<circle"));
    for class in ["data", "residuals"] {
        let path = svg.split(&format!(r#"<path class="{class}""#)).nth(1).unwrap().split("</path>").next().unwrap();
        assert!(path.contains("<title>30000 points, drawn as the span of those in each pixel column</title>"));
        // A span in every pixel column the data cover (the range is padded by 5 % each side).
        assert!(path.matches('M').count() > 600, "{}", path.matches('M').count());
    }
}

/// The plot as a scientist would put it in a paper: 1-2-5 ticks, error bars from σ, the
/// confidence band, residuals normalized by σ, a legend, value ± error to the error's digits
/// (golden SVGs); a log x axis chosen for five decades and said; what cannot be drawn refused.
#[test]
fn plots_have_ticks_error_bars_bands_legends_and_log_axes() {
    let cache = TempDir::new("cli-plot-golden");
    let dir = TempDir::new("cli-plot-golden-out");
    let decay = dir.path().join("decay.svg");
    let out = jitfit(
        &[
            "fit",
            "a*exp(-b*time) + c",
            "tests/data/plot/decay.csv",
            "--y",
            "signal",
            "--sigma",
            "err",
            "--band",
            "1",
            "--plot",
            decay.to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    expect_test::expect_file!["snapshots/plot_decay.svg"].assert_eq(&std::fs::read_to_string(&decay).unwrap());
    // With --ci and --contour: a panel per profile (the levels' thresholds, the intervals'
    // ends) and per contour (the curve around the fit), under the fit.
    let out = jitfit(
        &["fit", "a*exp(-b*time) + c", "tests/data/plot/decay.csv", "--y", "signal", "--sigma", "err"]
            .into_iter()
            .chain(["--ci", "1,2", "--contour", "a,b", "--plot", decay.to_str().unwrap()])
            .collect::<Vec<_>>(),
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let drawn = std::fs::read_to_string(&decay).unwrap();
    assert_eq!(drawn.matches(r#"<polyline class="profile""#).count(), 3);
    assert_eq!(drawn.matches(r#"<polyline class="contour""#).count(), 1);
    expect_test::expect_file!["snapshots/plot_uncertainty.svg"].assert_eq(&drawn);
    // The same plot as PNG: twice the SVG's size, drawn (not blank), its title's text drawn
    // with the bundled font (a machine without fonts draws no text: the title's rows would be
    // white).
    let png_path = dir.path().join("decay.png");
    let out = jitfit(
        &["fit", "a*exp(-b*time) + c", "tests/data/plot/decay.csv", "--y", "signal", "--sigma", "err"]
            .into_iter()
            .chain(["--plot", png_path.to_str().unwrap()])
            .collect::<Vec<_>>(),
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let png = resvg::tiny_skia::Pixmap::decode_png(&std::fs::read(&png_path).unwrap()).unwrap();
    assert_eq!((png.width(), png.height()), (1600, 1320));
    let dark = |rows: std::ops::Range<u32>| -> usize {
        rows.flat_map(|y| (0..png.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| png.pixel(x, y).is_some_and(|p| p.red() < 128 && p.green() < 128 && p.blue() < 128))
            .count()
    };
    let (title, plot) = (dark(10..50), dark(100..820));
    assert!(title > 500, "{title} dark pixels in the title's rows");
    assert!(plot > 5_000, "{plot} dark pixels in the plot");
    assert!(dark(0..6) == 0, "the top margin is blank");
    let dose = dir.path().join("dose.svg");
    let model = "response = bottom + (top - bottom)/(1 + (ec50/dose)^hill)";
    let args = ["fit", model, "tests/data/plot/dose.csv", "--p0", "bottom=10,top=100,ec50=1,hill=1", "--plot"];
    let out = jitfit(&[&args[..], &[dose.to_str().unwrap()]].concat(), &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    expect_test::expect_file!["snapshots/plot_dose.svg"].assert_eq(&std::fs::read_to_string(&dose).unwrap());
    let err = stderr(&out);
    let notes: Vec<&str> = err.lines().filter(|l| l.contains("--plot")).map(|l| l.trim()).collect();
    expect_test::expect![
        "note: --plot: `dose` spans three decades or more: drawn on a log x axis (--log-x=false draws it linear)"
    ]
    .assert_eq(&notes.join("\n"));
    // Errors in x: horizontal bars (one per point), residuals over σ_y only, said on the axis.
    let york = dir.path().join("york.svg");
    let out = jitfit(
        &["fit", "a + b*x", "examples/data/pearson_york.csv", "--sigma", "dy", "--sigma-x", "dx", "--plot"]
            .into_iter()
            .chain([york.to_str().unwrap()])
            .collect::<Vec<_>>(),
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let drawn = std::fs::read_to_string(&york).unwrap();
    let bars = drawn.split(r#"class="x-error-bars""#).nth(1).unwrap().split("/>").next().unwrap();
    assert_eq!(bars.matches('M').count(), 10);
    expect_test::expect_file!["snapshots/plot_york.svg"].assert_eq(&drawn);
    // --log-x=false: linear, no note; the x ticks of a linear axis.
    let out = jitfit(&[&args[..], &[dose.to_str().unwrap(), "--log-x=false"]].concat(), &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let plot_notes: Vec<&str> = err.lines().filter(|l| l.contains("--plot")).collect();
    assert_eq!(plot_notes, Vec::<&str>::new());
    let linear = std::fs::read_to_string(&dose).unwrap();
    // The main panel's x tick labels: those 18 px under its bottom (410).
    let x_ticks: Vec<&str> = linear
        .lines()
        .filter(|l| l.contains(r#"y="428.0" font-size="11" text-anchor="middle">"#))
        .map(|l| l.split('>').nth(1).unwrap().trim_end_matches("</text"))
        .collect();
    assert_eq!(x_ticks, ["0", "20", "40", "60", "80", "100"]);
    let refused = |args: &[&str]| -> String {
        let out = jitfit(args, &cache);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        stderr(&out)
    };
    let p_path = dir.path().join("p.svg");
    let p = p_path.to_str().unwrap();
    expect_test::expect![[r#"
        error: --log-x applies only with --plot FILE
        error: --log-y: `y` has values ≤ 0, which a log axis cannot show
        error: --log-x: a model of several variables is plotted against the fitted values, not one x
    "#]]
    .assert_eq(
        &[
            refused(&["fit", model, "tests/data/plot/dose.csv", "--log-x"]),
            {
                let signed = dir.path().join("signed.csv");
                std::fs::write(&signed, "x,y\n1,-1\n2,1\n3,2\n4,5\n").unwrap();
                refused(&["fit", "a*x + b", signed.to_str().unwrap(), "--plot", p, "--log-y"])
            },
            refused(&["fit", "a*x + b*z", "tests/data/xyz.csv", "--y", "y", "--vars", "x,z", "--plot", p, "--log-x"]),
        ]
        .concat()
        .replace(dir.path().to_str().unwrap(), "DIR"),
    );
}

#[test]
fn nist_files_compare_with_certified_values() {
    let cache = TempDir::new("cli-nist");
    let out = jitfit(&["nist", "tests/data/nist/Misra1a.dat", "--json"], &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["schema"], "jitfit.nist/1");
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        for p in run["parameters"].as_array().unwrap() {
            assert!(p["lre"].as_f64().unwrap() >= 6.0, "{p}");
        }
    }
    let out = jitfit(&["nist", "tests/data/nist/Nelson.dat", "--start", "2"], &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("start 2:"));
    assert!(!stdout(&out).contains("start 1:"));
}

#[test]
fn not_converging_exits_with_2_and_still_reports() {
    let cache = TempDir::new("cli-noconv");
    let out = jitfit(&["fit", "y = b1*(1-exp[-b2*x])", "examples/data/misra1a.csv", "--max-nfev", "2"], &cache);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("did NOT converge"));
}

#[test]
fn bad_input_exits_with_1_and_a_clear_message() {
    let cache = TempDir::new("cli-bad");
    let dir = TempDir::new("cli-bad-data");
    let nan = dir.path().join("nan.csv");
    std::fs::write(&nan, "x,y\n1,2\n2,nan\n3,4\n").unwrap();
    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, "x,y\n1,2\n2\n").unwrap();
    let piped = dir.path().join("piped.txt");
    std::fs::write(&piped, "x|y\n1|2\n2|3\n").unwrap();
    let (nan, ragged, piped) = (nan.to_str().unwrap(), ragged.to_str().unwrap(), piped.to_str().unwrap());
    let decay = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec!["fit", "a*exp(-b*time)", "examples/data/decay.csv", "--sigma", "err", "--y"];
        args.extend(extra);
        args
    };
    let cases: Vec<Vec<&str>> = vec![
        vec!["fit", "a*exq(-b*x)", "examples/data/misra1a.csv"],
        vec!["explain", "a*x +"],
        vec!["fit", "a*x", "no/such/file.csv"],
        vec!["fit", "a*exp(-b*t)", "examples/data/decay.csv", "--y", "signal", "--sigma", "err"],
        // The data contract (see src/bin/jitfit/columns.rs): nothing decided silently.
        vec!["fit", "a*exp(-b*time)", "examples/data/decay.csv", "--y", "signal"],
        vec!["fit", "y = a*exp(-b*time)", "examples/data/decay.csv", "--y", "signal", "--sigma", "err"],
        vec!["fit", "counts = a*exp(-b*time)", "examples/data/decay.csv", "--sigma", "err"],
        vec!["fit", "a*exp(-b*time) + err", "examples/data/decay.csv", "--y", "signal", "--sigma", "none"],
        vec!["fit", "a*exp(-b*time) + c", "examples/data/decay.csv", "--y", "signal", "--sigma", "signal"],
        vec!["fit", "a*exp(-b*x) + time", "examples/data/decay.csv", "--y", "signal", "--sigma", "err", "--x", "time"],
        vec!["fit", "a*x + b*y + c", "tests/data/xyz.csv"],
        vec!["fit", "a*x + b*y + c", "tests/data/xyz.csv", "--y", "z"],
        // Usage errors exit 1 like any bad input (clap's 2 is "not converged" here); values
        // may start with `-`.
        vec!["fit", "a*x", "tests/data/xyz.csv", "--bogus"],
        decay(&["signal", "--ftol", "-1"]),
        vec!["fit", "-a*x + b*y", "tests/data/xyz.csv", "--y", "z", "--vars", "x", "--fix", "a=1,b=1"],
        // Where results go is checked before the fit.
        vec!["fit", "y = b1*(1-exp[-b2*x])", "examples/data/misra1a.csv", "--plot", "no/such/dir/fit.svg"],
        vec![
            "fit",
            "y = b1*(1-exp[-b2*x])",
            "examples/data/misra1a.csv",
            "--output-residuals",
            "examples/data/misra1a.csv",
        ],
        vec!["fit", "a*x", "/dev/zero"],
        // Options that cannot apply, or conflict, are refused.
        decay(&["signal", "--f-scale", "0.5"]),
        decay(&["signal", "--seed", "3"]),
        decay(&["signal", "--checkpoint-every", "5"]),
        decay(&["signal", "--x", "time", "--vars", "time"]),
        decay(&["signal", "--bounds", "b=0:1", "--fix", "b=5"]),
        decay(&["signal", "--starts", "4", "--checkpoint", "c.json"]),
        decay(&["signal", "--band-grid", "10"]),
        decay(&["signal", "--contour-points", "10"]),
        decay(&["signal", "--contour", "a"]),
        decay(&["signal", "--contour", "a,q"]),
        vec!["fit", "gausian(time, A, c, s) + b", "examples/data/decay.csv", "--y", "signal", "--sigma", "err"],
        decay(&["signal", "--tie", "q = a"]),
        decay(&["signal", "--tie", "b = 1.5"]),
        decay(&["signal", "--tie", "b = a", "--tie", "a = 2*b"]),
        vec!["fit", "a*exp(-b*time) + c", "examples/data/decay.csv", "--y", "signal", "--sigma", "3"],
        vec![
            "fit",
            "a*exp(-b*time) + c",
            "examples/data/decay.csv",
            "--y",
            "signal",
            "--sigma",
            "0.02*fitted",
            "--starts",
            "4",
        ],
        decay(&["signal", "--tie", "b = b/2"]),
        decay(&["signal", "--tie", "b"]),
        decay(&["signal", "--tie", "b = a", "--tie", "b = 2*a"]),
        decay(&["signal", "--tie", "b = a", "--p0", "b=2"]),
        vec!["batch", "a*x + b", "tests/data/xyz.csv", "--by", "z", "--tie", "b = a"],
        decay(&["signal", "--shared", "b"]),
        vec!["fit", "a*x + b", "tests/data/xyz.csv", "--y", "z", "--vars", "x", "--sets", "y", "--shared", "q"],
        vec![
            "fit",
            "a*x + b",
            "tests/data/xyz.csv",
            "--y",
            "z",
            "--vars",
            "x",
            "--sets",
            "y",
            "--checkpoint",
            "c.json",
            "--global-solver",
            "structured",
        ],
        vec!["fit", "gaussian(time, A, c) + b", "examples/data/decay.csv", "--y", "signal", "--sigma", "err"],
        vec!["convert", "tests/data/colliding_names.csv", "never-written"],
        decay(&["signal", "--ci", "9"]),
        decay(&["signal", "--ci", "1", "--loss", "soft_l1"]),
        decay(&["signal", "--derive", "t = log(2)/q"]),
        decay(&["signal", "--derive", "log(2)/b"]),
        vec!["fit", "a*x + b*y", "tests/data/xyz.csv", "--y", "z", "--vars", "x,y", "--band", "1", "--band-grid", "5"],
        vec!["batch", "a*x + b", "tests/data/xyz.csv", "--by", "z", "--ci", "1"],
        decay(&["signal", "--resample", "cases"]),
        decay(&["signal", "--weights", "err"]),
        vec!["fit", "a*exp(-b*time) + c", "examples/data/decay.csv", "--y", "signal", "--weights", "nope"],
        decay(&["signal", "--bootstrap", "100", "--resample", "wild"]),
        decay(&["signal", "--bootstrap", "1"]),
        // σ as an expression of columns, errors in x.
        vec!["fit", "a*exp(-b*time)", "examples/data/decay.csv", "--y", "signal", "--sigma", "sqrt(q)"],
        vec!["fit", "a*exp(-b*time)", "examples/data/decay.csv", "--y", "signal", "--sigma", "2*(err"],
        vec!["fit", "a*exp(-b*time)", "examples/data/decay.csv", "--y", "signal", "--sigma", "err - 0.02"],
        vec!["fit", "a + b*x", "examples/data/pearson_york.csv", "--sigma", "dy"],
        vec!["fit", "a + b*x", "examples/data/pearson_york.csv", "--sigma", "none", "--sigma-x", "dx"],
        vec!["fit", "a + b*x", "examples/data/pearson_york.csv", "--sigma", "dy", "--sigma-x", "q=dx"],
        vec!["fit", "a + b*x", "examples/data/pearson_york.csv", "--sigma", "dy", "--sigma-x", "dy"],
        vec!["fit", "a + b*x", "examples/data/pearson_york.csv", "--sigma", "dy", "--sigma-x", "dx", "--poisson"],
        vec!["batch", "a*x + b", "tests/data/xyz.csv", "--by", "z", "--sigma-x", "y"],
        vec!["batch", "a*x + b", "tests/data/xyz.csv", "--by", "z", "--sigma", "0.1*fitted"],
        vec!["fit", "a*exp(-b*time)", "examples/data/decay.csv", "--y", "signal", "--sigma", "0.1*fitted", "--poisson"],
        // Files jitfit reads back are read only when regular and small.
        decay(&["signal", "--p0", "@/dev/zero"]),
        decay(&["signal", "--resume", "/dev/zero"]),
        vec!["batch", "a*x + b", "tests/data/xyz.csv", "--by", "z", "--plot", "p.svg", "--log-x"],
        vec!["batch", "a*x + b", "tests/data/xyz.csv", "--by", "z", "--min-correl", "0.5"],
        decay(&["nope"]),
        decay(&["signal", "--p0", "q=1"]),
        decay(&["signal", "--p0", "a"]),
        decay(&["signal", "--p0", "a=x"]),
        decay(&["signal", "--bounds", "b=1"]),
        decay(&["signal", "--bounds", "b=2:1"]),
        decay(&["signal", "--fix", "a=1,b=2"]),
        decay(&["signal", "--loss", "l2"]),
        decay(&["signal", "--method", "dogbox"]),
        vec!["fit", "a*x + b", nan],
        vec!["fit", "a*x + b", ragged],
        vec!["fit", "a*x + b", piped],
        vec!["fit", "y = b1*(1-exp[-b2*x])", "examples/data/misra1a.csv", "--plot", "fit.pdf"],
        vec!["nist", "examples/data/misra1a.csv"],
        vec!["nist", "tests/data/nist/Misra1a.dat", "--start", "3"],
    ];
    // The whole of stderr, exactly: every message once, `error:` once (the model errors'
    // carets included), no panic.
    let mut transcript = String::new();
    for args in cases {
        let out = jitfit(&args, &cache);
        let quote = |a: &&str| if a.contains([' ', '*', '(', '[']) { format!("'{a}'") } else { a.to_string() };
        let shown = args.iter().map(quote).collect::<Vec<_>>().join(" ");
        let text = format!("$ jitfit {shown}\n{}[exit {:?}]\n", stderr(&out), out.status.code());
        transcript += &text.replace(dir.path().to_str().unwrap(), "$DIR");
    }
    expect_test::expect_file!["snapshots/cli_errors.txt"].assert_eq(&transcript);
}

/// Output into a closed pipe (`jitfit … | head`) ends the command quietly with status 0, as
/// ripgrep does: no panic, no error message.
#[test]
fn a_closed_pipe_is_not_an_error() {
    let cache = TempDir::new("cli-pipe");
    for args in [&["explain", "A*exp(-((x-x0)^2 + (y-y0)^2)/(2*s^2)) + B", "--vars", "x,y"][..], &["--help"][..]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_jitfit"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("JITFIT_CACHE_DIR", cache.path())
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(0), ""), "{args:?}");
    }
}

#[test]
fn explain_and_cache_commands() {
    let cache = TempDir::new("cli-explain");
    let out = jitfit(&["explain", "a*exp(-b*x) + c"], &cache);
    assert_eq!(out.status.code(), Some(0));
    for needle in ["parameters  a, b, c (3)", "df/db = ", "kernel IR", "cache key"] {
        assert!(stdout(&out).contains(needle), "{needle}");
    }
    let out = jitfit(&["cache", "compile", "a*x + b"], &cache);
    assert!(stdout(&out).contains("miss"), "{}", stdout(&out));
    let out = jitfit(&["cache", "compile", "a*x + b"], &cache);
    assert!(stdout(&out).contains("disk hit"), "{}", stdout(&out));
    let out = jitfit(&["cache", "stats"], &cache);
    assert!(stdout(&out).contains("entries     1"), "{}", stdout(&out));
    let out = jitfit(&["cache", "clear"], &cache);
    assert!(stdout(&out).contains("removed 1 files"), "{}", stdout(&out));
}

#[test]
fn repl_script_runs_and_survives_mistakes() {
    let cache = TempDir::new("cli-repl");
    let dir = TempDir::new("cli-repl-out");
    let svg = dir.path().join("session.svg");
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/repl/decay.jf"))
        .unwrap()
        .replace("/tmp/jitfit-repl-decay.svg", svg.to_str().unwrap())
        + "frobnicate\nfit\nload no/such/file.csv\nbackend tpu\nbackend cpu\nshow\nquit\nfit\n";
    // Also a command word starting with a 3-byte character (it panicked) and a line of invalid
    // UTF-8 (it ended the session).
    let mut bytes = script.replacen("quit\n", "€x\nINVALID\nquit\n", 1).into_bytes();
    let at = bytes.windows(7).position(|w| w == b"INVALID").unwrap();
    bytes.splice(at..at + 7, [0xff, 0xfe]);
    let out = crate::support::run_repl(&bytes, &cache);
    // The session survived its mistakes, and the exit status says there were some.
    assert_eq!(out.status.code(), Some(1));
    let (stdout, stderr) = (stdout(&out), stderr(&out));
    // The whole of stderr: each error once, with its script line, and the count at the end.
    expect_test::expect_file!["snapshots/repl_script_stderr.txt"].assert_eq(&stderr);
    // Two fits before the mistakes, one after (and none after `quit`).
    assert_eq!(stdout.matches("[[Variables]]").count(), 3, "{stdout}");
    assert!(stdout.contains("at its upper bound"), "{stdout}");
    assert!(stdout.contains("method auto, backend cpu"), "{stdout}");
    // The failed load lost nothing: the session still shows the data loaded first.
    assert!(stdout.contains("data    examples/data/decay.csv"), "{stdout}");
    // `eval` at the fitted values: a·exp(−1.5 b) + c.
    let value: f64 = stdout.lines().find_map(|l| l.trim().parse().ok()).unwrap();
    assert!((value - 1.598).abs() < 0.01, "{value}");
    assert!(std::fs::read_to_string(svg).unwrap().contains(r#"class="residuals""#));
}

/// `refit` starts from the last fit's values (each parameter the model still has and that is
/// not fixed), says so, and keeps p0 for the others.
#[test]
fn repl_refit_starts_from_the_last_solution() {
    let cache = TempDir::new("cli-refit");
    let script = "load examples/data/decay.csv\nmodel a*exp(-b*time) + c\ny signal\nsigma err\np0 a=2,b=0.5\nfit\njson\nrefit\njson\nmodel a*exp(-b*time) + c + d*time\np0 d=0\nrefit\n";
    let out = crate::support::run_repl(script.as_bytes(), &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = stdout(&out);
    // The first JSON report (pretty-printed: from a line `{` to a line `}`).
    let first = first_json(&stdout);
    let starts: Vec<&str> = stdout.lines().filter(|l| l.starts_with("starting from the last fit: ")).collect();
    assert_eq!(starts.len(), 2, "{stdout}");
    let said: Vec<(&str, f64)> = starts[0]
        .trim_start_matches("starting from the last fit: ")
        .split(", ")
        .map(|p| p.split_once('=').map(|(n, v)| (n, v.parse().unwrap())).unwrap())
        .collect();
    assert_eq!(said.iter().map(|(n, _)| *n).collect::<Vec<_>>(), ["a", "b", "c"]);
    for (k, (name, value)) in said.iter().enumerate() {
        assert_eq!(first["parameters"][k]["name"], *name);
        assert_eq!(first["parameters"][k]["value"].as_f64().unwrap(), *value, "{name}");
    }
    // After the model gained `d`, it starts from p0 (0) and a, b, c from the last fit.
    assert_eq!(starts[1].split(", ").count(), 3, "{}", starts[1]);
    assert!(stdout.matches("(init = 0)").count() == 1, "{stdout}");
}

#[test]
fn npy_columns_generate_convert_and_fit() {
    let cache = TempDir::new("cli-npy");
    let dir = TempDir::new("cli-npy-data");
    let d = dir.path();
    let out = jitfit(
        &[
            "generate",
            "a*exp(-b*x) + c",
            d.to_str().unwrap(),
            "--n",
            "20000",
            "--params",
            "a=3,b=0.7,c=0.5",
            "--noise",
            "0.001",
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (x, y) = (d.join("x.npy"), d.join("y.npy"));
    let out =
        jitfit(&["fit", "a*exp(-b*x) + c", "--x", x.to_str().unwrap(), "--y", y.to_str().unwrap(), "--json"], &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let b = v["parameters"][1]["value"].as_f64().unwrap();
    assert!((b - 0.7).abs() < 1e-3, "{b}");
    assert_eq!(v["data"]["points"], 20000);

    // convert: one .npy per column, fitted like the CSV.
    let conv = d.join("decay");
    let out = jitfit(&["convert", "examples/data/decay.csv", conv.to_str().unwrap()], &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (t, s) = (conv.join("time.npy"), conv.join("signal.npy"));
    let from_npy =
        jitfit(&["fit", "a*exp(-b*x) + c", "--x", t.to_str().unwrap(), "--y", s.to_str().unwrap(), "--json"], &cache);
    let from_csv = jitfit(
        &["fit", "a*exp(-b*time) + c", "examples/data/decay.csv", "--y", "signal", "--sigma", "none", "--json"],
        &cache,
    );
    let values = |o: &Output| {
        let v: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap();
        v["parameters"].as_array().unwrap().iter().map(|p| p["value"].as_f64().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(values(&from_npy), values(&from_csv));

    // A truncated .npy is an error, not a crash.
    let bytes = std::fs::read(&x).unwrap();
    let truncated = d.join("truncated.npy");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out =
        jitfit(&["fit", "a*exp(-b*x) + c", "--x", truncated.to_str().unwrap(), "--y", y.to_str().unwrap()], &cache);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("truncated: the header promises 20000×1 values"), "{}", stderr(&out));
    // Columns of different lengths.
    let short = d.join("short");
    let out = jitfit(&["generate", "a*x", short.to_str().unwrap(), "--n", "10"], &cache);
    assert_eq!(out.status.code(), Some(0));
    let out = jitfit(
        &["fit", "a*exp(-b*x) + c", "--x", short.join("x.npy").to_str().unwrap(), "--y", y.to_str().unwrap()],
        &cache,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).replace(y.to_str().unwrap(), "Y"),
        "error: --y Y: 20000 values, but the data have 10 rows (each column file needs one value per row)\n"
    );
}

#[test]
fn multi_start_reports_the_best_fit_and_the_minima() {
    let cache = TempDir::new("cli-multistart");
    let dir = TempDir::new("cli-multistart-data");
    let path = dir.path().join("sine.csv");
    let mut text = String::from("x,y\n");
    for i in 0..200 {
        let x = i as f64 * 0.05;
        text += &format!("{x:?},{:?}\n", 1.3 * (3.7 * x).sin());
    }
    std::fs::write(&path, text).unwrap();
    let p = path.to_str().unwrap();
    let single = jitfit(&["fit", "a*sin(w*x)", p, "--bounds", "a=0:5,w=0.5:6", "--json"], &cache);
    let many = jitfit(&["fit", "a*sin(w*x)", p, "--bounds", "a=0:5,w=0.5:6", "--starts", "32", "--json"], &cache);
    assert_eq!(many.status.code(), Some(0), "{}", stderr(&many));
    let w = |o: &Output| {
        let v: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap();
        (v["parameters"][1]["value"].as_f64().unwrap(), v["minima"].as_array().map_or(0, |m| m.len()))
    };
    let (w_single, _) = w(&single);
    let (w_many, n_minima) = w(&many);
    assert!((w_single - 3.7).abs() > 0.1, "{w_single}");
    assert!((w_many - 3.7).abs() < 1e-8, "{w_many}");
    assert!(n_minima >= 1);
    let text =
        jitfit(&["fit", "a*sin(w*x)", p, "--bounds", "a=0:5,w=0.5:6", "--starts", "8", "--sampler", "lhs"], &cache);
    assert!(stdout(&text).contains("[[Minima]]"));
    let bad = jitfit(&["fit", "a*sin(w*x)", p, "--starts", "8", "--sampler", "halton"], &cache);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("--sampler: `halton` is not one of sobol, lhs, random"));
}

/// Inputs scientists have: a table on standard input (`-`), columns by position (`--y 3`),
/// and a previous fit's JSON report as the starting values (`--p0 @fit.json`).
#[test]
fn stdin_positions_and_previous_fits() {
    let cache = TempDir::new("cli-inputs");
    let dir = TempDir::new("cli-inputs-data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitfit"))
        .args(["fit", "a*x + b", "-", "--json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("JITFIT_CACHE_DIR", cache.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"x,y\n1,2.1\n2,2.9\n3,4.2\n4,4.8\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(first["data"]["path"], "standard input");

    let by_position = jitfit(&["fit", "a*x + b", "tests/data/xyz.csv", "--y", "3", "--vars", "x", "--json"], &cache);
    assert_eq!(by_position.status.code(), Some(0), "{}", stderr(&by_position));
    let v: serde_json::Value = serde_json::from_str(&stdout(&by_position)).unwrap();
    assert_eq!(v["data"]["response"], "z");
    assert_eq!(v["data"]["notes"][0], "--y 3: column 3, `z`");

    let previous = dir.path().join("first.json");
    std::fs::write(&previous, stdout(&out)).unwrap();
    let at = format!("@{}", previous.display());
    let again =
        jitfit(&["fit", "a*x + b", "tests/data/xyz.csv", "--y", "3", "--vars", "x", "--p0", &at, "--json"], &cache);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let v: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    for k in 0..2 {
        assert_eq!(v["parameters"][k]["initial"], first["parameters"][k]["value"]);
        assert_eq!(v["parameters"][k]["initial_given"], true);
    }
    // A model of two variables from .npy column files.
    let cols = dir.path().join("cols");
    assert_eq!(jitfit(&["convert", "tests/data/xyz.csv", cols.to_str().unwrap()], &cache).status.code(), Some(0));
    let file = |name: &str| cols.join(name).to_str().unwrap().to_owned();
    let vars = format!("x={},y={}", file("x.npy"), file("y.npy"));
    let from_npy = jitfit(&["fit", "a*x + b*y + c", "--vars", &vars, "--y", &file("z.npy"), "--json"], &cache);
    assert_eq!(from_npy.status.code(), Some(0), "{}", stderr(&from_npy));
    let from_csv =
        jitfit(&["fit", "a*x + b*y + c", "tests/data/xyz.csv", "--vars", "x,y", "--y", "z", "--json"], &cache);
    let values = |o: &Output| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&stdout(o)).unwrap()["parameters"].clone()
    };
    assert_eq!(values(&from_npy), values(&from_csv));

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"schema\": \"other\"}").unwrap();
    let bad = jitfit(
        &[
            "fit",
            "a*x + b",
            "tests/data/xyz.csv",
            "--y",
            "z",
            "--vars",
            "x",
            "--p0",
            &format!("@{}", garbage.display()),
        ],
        &cache,
    );
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        stderr(&bad),
        format!("error: --p0 @{}: not a jitfit fit report (schema jitfit.fit/1)\n", garbage.display())
    );
}

/// A parameter name of 70 000 characters made the report's column formatting panic.
#[test]
fn a_very_long_parameter_name_is_reported() {
    let cache = TempDir::new("cli-long-name");
    let name = "p".repeat(70_000);
    let model = format!("{name}*x + b");
    let out = jitfit(&["fit", &model, "tests/data/xyz.csv", "--y", "z", "--vars", "x"], &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("    {name} = ")));
}

/// The first JSON report in a REPL's output (pretty-printed: from a line `{` to a line `}`).
fn first_json(stdout: &str) -> serde_json::Value {
    let text: String =
        stdout.lines().skip_while(|l| *l != "{").take_while(|l| *l != "}").chain(["}"]).collect::<Vec<_>>().join("\n");
    serde_json::from_str(&text).unwrap()
}

/// Report lines with the profile's time (which varies from run to run) left out.
fn without_profile_time(sections: &str) -> String {
    sections
        .lines()
        .map(|line| match line.split_once(" refits in ") {
            Some((count, _)) => format!("{count} refits in (time)\n"),
            None => format!("{line}\n"),
        })
        .collect()
}

#[test]
fn confidence_intervals_derived_quantities_and_bands_in_the_report() {
    let cache = TempDir::new("cli-ci");
    let dir = TempDir::new("cli-ci-out");
    let residuals = dir.path().join("res.csv");
    let out = jitfit(
        &[
            "fit",
            "a*exp(-b*time) + c",
            "examples/data/decay.csv",
            "--y",
            "signal",
            "--sigma",
            "err",
            "--ci",
            "1,0.95",
            "--derive",
            "half_life = log(2)/b",
            "--band",
            "2",
            "--contour",
            "a,b",
            "--output-residuals",
            residuals.to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout(&out);
    let sections = without_profile_time(&report[report.find("[[Confidence Intervals]]").unwrap()..]);
    expect_test::expect![[r#"
        [[Confidence Intervals]] (profile likelihood)
            threshold: F-test, σ estimated from the residuals: χ² ≤ χ²_min·(1 + t²/97), t of Student's t with 97 dof
            a   1σ (68.27%): [2.98927, 3.01395]  -0.0123275 / +0.0123444
            a           95%: [2.97728, 3.02599]  -0.0243245 / +0.0243902
            b   1σ (68.27%): [0.693673, 0.70471]  -0.00550067 / +0.00553609
            b           95%: [0.688346, 0.710139]  -0.0108274 / +0.0109655
            c   1σ (68.27%): [0.493754, 0.501688]  -0.00397308 / +0.00396176
            c           95%: [0.489871, 0.505538]  -0.00785592 / +0.00781177
            42 refits in (time)
        [[Contours]] 1σ (68.27%) 2-parameter regions (F-test with 2 and 97 dof, σ from the residuals): ranges; the points are in the JSON
            a, b: 36 points; a in [2.98292, 3.02033], b in [0.690853, 0.707574]
            126 refits in (time)
        [[Derived]] (standard errors by the delta method)
            half_life =     0.991381 ± 0.00778285  (log(2)/b)
        [[Bands]] 2σ (95.45%): half-width = 2.0261 × standard deviation (Student's t, 97 dof: σ from the residuals)
            confidence at the 100 data points: median 0.00749138, max 0.0254883
            prediction at the data points: median 0.0604504, max 0.0822199
    "#]]
    .assert_eq(&sections);
    let csv = std::fs::read_to_string(&residuals).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("time,signal,fitted,residual,confidence,prediction"));
    assert_eq!(lines.next().map(|l| l.split(',').count()), Some(6));
}

#[test]
fn confidence_intervals_and_band_grid_in_the_json() {
    let cache = TempDir::new("cli-ci-json");
    let out = jitfit(
        &[
            "fit",
            "a*exp(-b*x) + c",
            "tests/data/uncertainty/decay.csv",
            "--ci",
            "1",
            "--band",
            "1",
            "--band-grid",
            "3",
            "--json",
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let ci = &v["confidence_intervals"];
    assert_eq!(ci["test"]["kind"], "f_test");
    let b = &ci["parameters"][1];
    assert_eq!(b["name"], "b");
    assert_eq!(b["intervals"][0]["lower"]["kind"], "found");
    assert!(v["bootstrap"].is_null());
    let grid = &v["band_grid"];
    assert_eq!(grid["x"], serde_json::json!([0.0, 4.0, 8.0]));
    assert_eq!(grid["confidence"].as_array().unwrap().len(), 3);
    assert_eq!(grid["prediction"].as_array().unwrap().len(), 3);
}

#[test]
fn repl_profiles_derives_and_bands_the_last_fit() {
    let cache = TempDir::new("cli-repl-ci");
    let script = "ci 1\nload examples/data/decay.csv\nmodel a*exp(-b*time) + c\ny signal\nsigma err\nfit\n\
                  ci 0.95\nderive h = log(2)/b\nband 2\nci 9\n";
    let out = crate::support::run_repl(script.as_bytes(), &cache);
    assert_eq!(out.status.code(), Some(1));
    let stdout = stdout(&out);
    let after = without_profile_time(&stdout[stdout.find("[[Confidence Intervals]]").unwrap()..]);
    expect_test::expect![[r#"
        [[Confidence Intervals]] (profile likelihood)
            threshold: F-test, σ estimated from the residuals: χ² ≤ χ²_min·(1 + t²/97), t of Student's t with 97 dof
            a           95%: [2.97728, 3.02599]  -0.0243245 / +0.0243902
            b           95%: [0.688346, 0.710139]  -0.0108274 / +0.0109655
            c           95%: [0.489871, 0.505538]  -0.00785592 / +0.00781177
            23 refits in (time)
        [[Derived]] (standard errors by the delta method)
            h =     0.991381 ± 0.00778285  (log(2)/b)
        [[Bands]] 2σ (95.45%): half-width = 2.0261 × standard deviation (Student's t, 97 dof: σ from the residuals)
            confidence at the 100 data points: median 0.00749138, max 0.0254883
            prediction at the data points: median 0.0604504, max 0.0822199
    "#]]
    .assert_eq(&after);
    expect_test::expect![[r#"
        line 1: error: nothing fitted yet: `fit`
        line 10: error: ci: `9` is neither a probability (between 0 and 1) nor a σ multiple (from 1 to 8)
        2 commands of the script failed
    "#]]
    .assert_eq(&stderr(&out));
}

#[test]
fn repl_plot_draws_the_profiles_contours_and_band_as_the_cli_does() {
    let cache = TempDir::new("cli-repl-plot");
    let (repl, cli) = (cache.path().join("repl.svg"), cache.path().join("cli.svg"));
    // A contour of a pair (either way round) replaces that pair's last one; a new fit drops
    // them all (`plot` after the refit below draws none); a robust loss has no profiles.
    let script = format!(
        "load examples/data/decay.csv\nmodel a*exp(-b*time) + c\ny signal\nsigma err\nfit\nci 1,2\n\
         contour b,a\ncontour a, b 2\ncontour b,c 2\nband 1\ncontour a\nplot {}\nrefit\nplot {}\n\
         loss soft_l1\nfit\nci 1\ncontour a,b\n",
        repl.display(),
        cache.path().join("refit.svg").display()
    );
    let out = crate::support::run_repl(script.as_bytes(), &cache);
    expect_test::expect![[r#"
        line 11: error: contour: name two parameters, e.g. `contour a,b` (and a level: `contour a,b 2`)
        line 17: error: ci: profile intervals need the linear loss: the soft_l1 loss's cost is not a likelihood
        line 18: error: contour: confidence regions need the linear loss: the soft_l1 loss's cost is not a likelihood
        3 commands of the script failed
    "#]]
    .assert_eq(&stderr(&out));
    let out = jitfit(
        &["fit", "a*exp(-b*time) + c", "examples/data/decay.csv", "--y", "signal", "--sigma", "err"]
            .into_iter()
            .chain(["--ci", "1,2", "--contour", "a,b", "--contour", "b,c", "--contour-level", "2", "--band", "1"])
            .chain(["--plot", cli.to_str().unwrap()])
            .collect::<Vec<_>>(),
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let drawn = std::fs::read_to_string(&repl).unwrap();
    assert_eq!(drawn, std::fs::read_to_string(&cli).unwrap());
    assert_eq!(
        [r#"<polyline class="profile""#, r#"<polyline class="contour""#, r#"class="confidence-band""#]
            .map(|class| drawn.matches(class).count()),
        [3, 2, 1]
    );
    let refit = std::fs::read_to_string(cache.path().join("refit.svg")).unwrap();
    assert_eq!(
        [r#"<polyline class="profile""#, r#"<polyline class="contour""#, r#"class="confidence-band""#]
            .map(|class| refit.matches(class).count()),
        [0, 0, 0]
    );
}

#[test]
fn errors_in_x_fit_pearson_york() {
    let cache = TempDir::new("cli-errors-in-x");
    let args = ["fit", "a + b*x", "examples/data/pearson_york.csv", "--sigma", "dy", "--sigma-x", "dx"];
    let out = jitfit(&[&args[..], &["--absolute-sigma"]].concat(), &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout(&out);
    let shown = &report[..report.find("[[Timing]]").unwrap()];
    expect_test::expect![[r#"
        [[Model]]
            a + b*x
        [[Data]]
            examples/data/pearson_york.csv: 10 points; variables x; response y; sigma dy
            errors in x: σ of x in dx; effective variance σ_y² + (∂f/∂x·σ_x)², exact ∂f/∂x; started from the fit with σ_y alone
            response: column `y`, by its name (--y COLUMN chooses another)
            variable `x`: the only column named in the model (--vars chooses)
        [[Fit Statistics]]
            fitting method       = trf (loss linear)
            backend              = cpu
            function evals       = 7 (Jacobian evals 7)
            data points          = 10
            variables            = 2 free of 2
            chi-square           = 11.8664
            reduced chi-square   = 1.48329
            Akaike info crit     = 5.71122
            Bayesian info crit   = 6.31639
            R-squared            = n/a (errors in x: the weights depend on the parameters)
            optimality           = 1.233e-9
        [[Variables]]
            a =      5.47991 ± 0.294971 (5.38%)  (init = 1, by default)
            b =    -0.480533 ± 0.057985 (12.07%)  (init = 1, by default)
        [[Correlations]] (unreported correlations are < 0.1)
            C(a, b)  = -0.9631
        [[Status]]
            converged: `ftol` termination condition is satisfied. (status 2)
    "#]]
    .assert_eq(shown);
    let json = jitfit(&[&args[..], &["--json"]].concat(), &cache);
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(json["data"]["sigma_x"], serde_json::json!([{"variable": "x", "column": "dx"}]));
    assert_eq!(json["r_squared"], serde_json::Value::Null);
    // The REPL says the same.
    let script = "load examples/data/pearson_york.csv\nmodel a + b*x\nsigma dy\nsigma-x dx\nfit\n";
    let out = crate::support::run_repl(script.as_bytes(), &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let variables = |text: &str| -> Vec<String> {
        text.lines().skip_while(|l| *l != "[[Variables]]").take(3).map(str::to_owned).collect()
    };
    let cli = jitfit(&args, &cache);
    assert_eq!(variables(&stdout(&out)), variables(&stdout(&cli)));
}

#[test]
fn sigma_as_an_expression_of_columns() {
    let cache = TempDir::new("cli-sigma-expression");
    let dir = TempDir::new("cli-sigma-expression-out");
    let model = "a*exp(-b*time) + c";
    let fit = |extra: &[&str]| -> serde_json::Value {
        let args = [&["fit", model, "examples/data/decay.csv", "--y", "signal", "--json"][..], extra].concat();
        let out = jitfit(&args, &cache);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let same = |a: &serde_json::Value, b: &serde_json::Value| {
        for k in 0..3 {
            for field in ["value", "stderr"] {
                let (x, y) = (a["parameters"][k][field].as_f64().unwrap(), b["parameters"][k][field].as_f64().unwrap());
                assert!((x - y).abs() <= 1e-12 * x.abs(), "{field} {k}: {x} vs {y}");
            }
        }
    };
    // An expression of the σ column is that column.
    let by_column = fit(&["--sigma", "err"]);
    let by_expression = fit(&["--sigma", "sqrt(err^2)"]);
    same(&by_column, &by_expression);
    assert_eq!(by_expression["data"]["sigma_expression"], "sqrt(err^2)");
    assert_eq!(by_expression["data"]["sigma"], serde_json::Value::Null);
    // A constant is a column of it.
    let text = std::fs::read_to_string("examples/data/decay.csv").unwrap();
    let mut constant = String::from("time,signal,s\n");
    for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        constant += &format!("{},{},0.03\n", f[0], f[1]);
    }
    let path = dir.path().join("constant.csv");
    std::fs::write(&path, constant).unwrap();
    let by_constant = fit(&["--sigma", "0.03", "--absolute-sigma"]);
    let args = ["fit", model, path.to_str().unwrap(), "--y", "signal", "--sigma", "s", "--absolute-sigma", "--json"];
    let out = jitfit(&args, &cache);
    same(&by_constant, &serde_json::from_str(&stdout(&out)).unwrap());
    // σ that follows the curve: reweighted to its fixed point, said in [[Data]] and the JSON.
    let proportional = fit(&["--sigma", "0.02*fitted"]);
    assert_eq!(proportional["data"]["reweighting"]["converged"], true);
    assert_eq!(proportional["data"]["sigma_expression"], "0.02*fitted");
    let out = jitfit(&["fit", model, "examples/data/decay.csv", "--y", "signal", "--sigma", "0.02*fitted"], &cache);
    let report = stdout(&out);
    let data: Vec<&str> = report.lines().skip_while(|l| *l != "[[Data]]").skip(1).take(2).collect();
    let rounds = proportional["data"]["reweighting"]["rounds"].as_u64().unwrap();
    assert_eq!(
        data,
        [
            "    examples/data/decay.csv: 100 points; variables time; response signal; sigma = 0.02*fitted".to_owned(),
            format!("    σ follows the fitted values: reweighted to its fixed point in {rounds} fits"),
        ]
    );
}

#[test]
fn weights_are_one_over_sigma_squared() {
    let cache = TempDir::new("cli-weights");
    let dir = TempDir::new("cli-weights-out");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/decay.csv")).unwrap();
    let mut weighted = String::from("time,signal,w\n");
    for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        weighted += &format!("{:?},{:?},{:?}\n", f[0], f[1], 1.0 / (f[2] * f[2]));
    }
    let path = dir.path().join("weighted.csv");
    std::fs::write(&path, weighted).unwrap();
    let model = "a*exp(-b*time) + c";
    let by_sigma =
        jitfit(&["fit", model, "examples/data/decay.csv", "--y", "signal", "--sigma", "err", "--json"], &cache);
    let by_weights =
        jitfit(&["fit", model, path.to_str().unwrap(), "--y", "signal", "--weights", "w", "--json"], &cache);
    assert_eq!(by_weights.status.code(), Some(0), "{}", stderr(&by_weights));
    let (a, b): (serde_json::Value, serde_json::Value) =
        (serde_json::from_str(&stdout(&by_sigma)).unwrap(), serde_json::from_str(&stdout(&by_weights)).unwrap());
    assert_eq!(b["data"]["weights"], "w");
    assert_eq!(b["data"]["sigma"], serde_json::Value::Null);
    for k in 0..3 {
        for field in ["value", "stderr"] {
            let (x, y) = (a["parameters"][k][field].as_f64().unwrap(), b["parameters"][k][field].as_f64().unwrap());
            assert!((x - y).abs() <= 1e-10 * x.abs(), "{field} {k}: {x} vs {y}");
        }
    }
    let report = jitfit(&["fit", model, path.to_str().unwrap(), "--y", "signal", "--weights", "w"], &cache);
    let report = stdout(&report);
    let data_line = report.lines().skip_while(|l| *l != "[[Data]]").nth(1);
    assert_eq!(
        data_line,
        Some(&*format!("    {}: 100 points; variables time; response signal; weights w (σ = 1/√w)", path.display()))
    );
    let zero = dir.path().join("zero.csv");
    std::fs::write(&zero, "x,y,w\n1,2,1\n2,3,0\n3,4,1\n").unwrap();
    let out = jitfit(&["fit", "a*x + b", zero.to_str().unwrap(), "--weights", "w"], &cache);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: --weights: data row 2 has w = 0: weights must be positive and finite (w = 1/σ²; drop the row to \
         leave the point out)\n"
    );
}

#[test]
fn the_model_library_is_listed() {
    let cache = TempDir::new("cli-models");
    let out = jitfit(&["models"], &cache);
    assert_eq!(out.status.code(), Some(0));
    expect_test::expect_file!["snapshots/models.txt"].assert_eq(&stdout(&out));
}

#[test]
fn a_tie_is_the_model_written_with_it() {
    let cache = TempDir::new("cli-tie");
    let fit = |model: &str, extra: &[&str]| -> serde_json::Value {
        let args = [&["fit", model, "examples/data/decay.csv", "--y", "signal", "--sigma", "err", "--json"][..], extra]
            .concat();
        let out = jitfit(&args, &cache);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    // c tied to a tenth of a: the same as writing a/10 for c.
    let tied = fit("a*exp(-b*time) + c", &["--tie", "c = a/10"]);
    let written = fit("a*exp(-b*time) + a/10", &[]);
    for (k, name) in ["a", "b"].iter().enumerate() {
        let p = |v: &serde_json::Value| {
            v["parameters"].as_array().unwrap().iter().find(|p| p["name"] == *name).cloned().unwrap()
        };
        let (x, y) = (p(&tied)["value"].as_f64().unwrap(), p(&written)["value"].as_f64().unwrap());
        assert!((x - y).abs() <= 1e-12 * y.abs(), "{k}: {x} vs {y}");
    }
    let a = tied["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "a").cloned().unwrap();
    assert_eq!(tied["tied"][0]["name"], "c");
    assert_eq!(tied["tied"][0]["expression"], "a/10");
    let c = tied["tied"][0]["value"].as_f64().unwrap();
    assert!((c - a["value"].as_f64().unwrap() / 10.0).abs() <= 1e-15 * c.abs());
    let se = tied["tied"][0]["stderr"].as_f64().unwrap();
    assert!((se - a["stderr"].as_f64().unwrap() / 10.0).abs() <= 1e-12 * se);
    // The REPL's `tie` prints the same [[Tied]] section as the command line.
    let section = |text: &str| -> Vec<String> {
        text.lines().skip_while(|l| !l.starts_with("[[Tied]]")).take(2).map(str::to_owned).collect()
    };
    let cli = jitfit(
        &[
            "fit",
            "a*exp(-b*time) + c",
            "examples/data/decay.csv",
            "--y",
            "signal",
            "--sigma",
            "err",
            "--tie",
            "c = a/10",
        ],
        &cache,
    );
    let script = "load examples/data/decay.csv\nmodel a*exp(-b*time) + c\ny signal\nsigma err\ntie c = a/10\nfit\n";
    let repl = crate::support::run_repl(script.as_bytes(), &cache);
    assert_eq!(repl.status.code(), Some(0), "{}", stderr(&repl));
    assert_eq!(section(&stdout(&repl)), section(&stdout(&cli)));
    assert_eq!(section(&stdout(&cli)).len(), 2);
}

/// Three decays sharing τ, as `detector,t,y`, and the same rows with indicator columns.
fn global_data(dir: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut long = String::from("detector,t,y\n");
    let mut wide = String::from("t,y,d1,d2,d3\n");
    for (k, (name, a, b)) in [("det_a", 3.0, 0.5), ("det_b", 2.0, 0.2), ("det_c", 4.0, 1.0)].iter().enumerate() {
        for i in 0..30 {
            let t = i as f64 / 3.0;
            let noise = 0.02 * (((i * 7 + k * 3) % 11) as f64 - 5.0) / 5.0;
            let y = a * (-t / 2.5f64).exp() + b + noise;
            long += &format!("{name},{t:?},{y:?}\n");
            let d = |j: usize| if j == k { 1 } else { 0 };
            wide += &format!("{t:?},{y:?},{},{},{}\n", d(0), d(1), d(2));
        }
    }
    let (l, w) = (dir.path().join("long.csv"), dir.path().join("wide.csv"));
    std::fs::write(&l, long).unwrap();
    std::fs::write(&w, wide).unwrap();
    (l, w)
}

/// `sets` short decays sharing τ = 1.5, rows `run,t,y` with runs `r0`, `r1`, ….
fn decays_by_run(path: &std::path::Path, sets: usize) {
    let mut text = String::from("run,t,y\n");
    for k in 0..sets {
        for i in 0..8 {
            let t = i as f64 * 0.5;
            let y = (1.0 + (k % 5) as f64) * (-t / 1.5f64).exp() + 0.01 * ((i * 3 + k) % 7) as f64;
            text += &format!("r{k},{t:?},{y:?}\n");
        }
    }
    std::fs::write(path, text).unwrap();
}

fn parameters(json: &serde_json::Value) -> std::collections::BTreeMap<String, (f64, f64)> {
    json["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (p["name"].as_str().unwrap().to_owned(), (p["value"].as_f64().unwrap(), p["stderr"].as_f64().unwrap()))
        })
        .collect()
}

#[test]
fn a_global_fit_is_the_stacked_fit_written_by_hand() {
    let cache = TempDir::new("cli-global");
    let dir = TempDir::new("cli-global-data");
    let (long, wide) = global_data(&dir);
    let run = |args: &[&str]| -> serde_json::Value {
        let out = jitfit(&[args, &["--json", "--p0", "tau=1"]].concat(), &cache);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let global = run(&["fit", "A*exp(-t/tau) + B", long.to_str().unwrap(), "--sets", "detector", "--shared", "tau"]);
    let by_hand = run(&[
        "fit",
        "d1*(A_1*exp(-t/tau) + B_1) + d2*(A_2*exp(-t/tau) + B_2) + d3*(A_3*exp(-t/tau) + B_3)",
        wide.to_str().unwrap(),
        "--vars",
        "t,d1,d2,d3",
    ]);
    let (g, h) = (parameters(&global), parameters(&by_hand));
    assert_eq!(g.keys().collect::<Vec<_>>(), h.keys().collect::<Vec<_>>());
    // The structured solver (the default) and TRF on the hand-written model stop apart by
    // rounding: ~1e-10 relative, ~1e-8 of a standard error.
    assert_eq!(global["global"]["solver"], "structured");
    for (name, (value, se)) in &g {
        let (v, s) = h[name];
        assert!((value - v).abs() <= 1e-6 * s, "{name}: {value} vs {v}");
        assert!((se - s).abs() <= 1e-8 * s, "{name}: σ {se} vs {s}");
    }
    // The dense rewrite is the hand-written model.
    let dense = run(&[
        "fit",
        "A*exp(-t/tau) + B",
        long.to_str().unwrap(),
        "--sets",
        "detector",
        "--shared",
        "tau",
        "--global-solver",
        "dense",
    ]);
    for (name, (value, se)) in &parameters(&dense) {
        let (v, s) = h[name];
        assert!((value - v).abs() <= 1e-10 * v.abs(), "{name}: {value} vs {v}");
        assert!((se - s).abs() <= 1e-8 * s, "{name}: σ {se} vs {s}");
    }
    // The REPL's `sets` and `shared` (numeric ids: the REPL reads numbers).
    let numeric = dir.path().join("numeric.csv");
    let text =
        std::fs::read_to_string(&long).unwrap().replace("det_a,", "1,").replace("det_b,", "2,").replace("det_c,", "3,");
    std::fs::write(&numeric, text).unwrap();
    let repl_plot = dir.path().join("repl_sets.svg");
    let script = format!(
        "load {}\nmodel A*exp(-t/tau) + B\nsets detector\nshared tau\np0 tau=1\nfit\njson\nplot {}\n",
        numeric.display(),
        repl_plot.display()
    );
    let out = crate::support::run_repl(script.as_bytes(), &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // `plot` after a global fit: a panel per set.
    assert_eq!(std::fs::read_to_string(&repl_plot).unwrap().matches(r#"<polyline class="fit""#).count(), 3);
    let repl = parameters(&first_json(&stdout(&out)));
    assert_eq!(repl["tau"].0, g["tau"].0);
    let notes = global["data"]["notes"].as_array().unwrap();
    assert!(notes.iter().any(|n| n
        == "global fit: 3 data sets by `detector` (1 = det_a, 2 = det_b, 3 = det_c); shared: tau; per set: A, B (named NAME_1, NAME_2, …)"));
    // Nothing shared: each set's parameters are its own fit's.
    let separate = run(&["fit", "A*exp(-t/tau) + B", long.to_str().unwrap(), "--sets", "detector"]);
    let s = parameters(&separate);
    let text = std::fs::read_to_string(&long).unwrap();
    for (k, name) in ["det_a", "det_b", "det_c"].iter().enumerate() {
        let rows: String =
            text.lines().filter(|l| l.starts_with(name)).map(|l| format!("{}\n", &l[name.len() + 1..])).collect();
        let one = dir.path().join(format!("{name}.csv"));
        std::fs::write(&one, format!("t,y\n{rows}")).unwrap();
        let alone = parameters(&run(&["fit", "A*exp(-t/tau) + B", one.to_str().unwrap()]));
        for p in ["A", "B", "tau"] {
            let (v, _) = s[&format!("{p}_{}", k + 1)];
            let (w, _) = alone[p];
            assert!((v - w).abs() <= 1e-7 * w.abs(), "{name} {p}: {v} vs {w}");
        }
    }
}

#[test]
fn ties_in_a_global_fit_are_reported_once_or_per_set_by_either_solver() {
    let cache = TempDir::new("cli-global-ties");
    let dir = TempDir::new("cli-global-ties-data");
    let (long, _) = global_data(&dir);
    let path = long.to_str().unwrap();
    let fit = |model: &str, tie: &str, extra: &[&str]| -> serde_json::Value {
        let args =
            ["fit", model, path, "--sets", "detector", "--shared", "tau", "--tie", tie, "--p0", "tau=1", "--json"];
        let out = jitfit(&[&args[..], extra].concat(), &cache);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let value = |v: &serde_json::Value, name: &str| -> f64 {
        v["parameters"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["value"].as_f64().unwrap()
    };
    // A tie of a set's own parameters: one value per set, named as the sets' own parameters;
    // a tie of shared ones: one value. The structured solver and the dense rewrite agree.
    for (model, tie, names) in [
        ("A*exp(-t/tau) + B", "B = A/10", vec!["B_1", "B_2", "B_3"]),
        ("A*exp(-t/tau) + B*exp(-t/tau2)", "tau2 = 10*tau", vec!["tau2"]),
    ] {
        let structured = fit(model, tie, &[]);
        let dense = fit(model, tie, &["--global-solver", "dense"]);
        let (tied, tied_dense) = (structured["tied"].as_array().unwrap(), dense["tied"].as_array().unwrap());
        assert_eq!(tied.iter().map(|t| t["name"].as_str().unwrap()).collect::<Vec<_>>(), names, "{tie}");
        assert_eq!(tied.len(), tied_dense.len());
        for (a, b) in tied.iter().zip(tied_dense) {
            assert_eq!((&a["name"], &a["expression"]), (&b["name"], &b["expression"]));
            for field in ["value", "stderr"] {
                let (a, b) = (a[field].as_f64().unwrap(), b[field].as_f64().unwrap());
                assert!((a - b).abs() <= 1e-7 * b.abs(), "{tie} {field}: {a} vs {b}");
            }
        }
        for (k, t) in tied.iter().enumerate() {
            let expected = match names.len() {
                1 => 10.0 * value(&structured, "tau"),
                _ => value(&structured, &format!("A_{}", k + 1)) / 10.0,
            };
            assert!((t["value"].as_f64().unwrap() - expected).abs() <= 1e-15 * expected.abs(), "{tie}");
        }
    }
    let out = jitfit(
        &["fit", "A*exp(-t/tau) + B", path, "--sets", "detector", "--shared", "tau", "--tie", "B = A/10"],
        &cache,
    );
    let report = stdout(&out);
    expect_test::expect![[r#"
        [[Tied]] (--tie: not fitted, computed; standard errors by the delta method)
            B_1 =     0.294759 ± 0.00571372  (= A/10)
            B_2 =     0.174603 ± 0.00518709  (= A/10)
            B_3 =     0.448194 ± 0.0066521  (= A/10)
    "#]]
    .assert_eq(&report[report.find("[[Tied]]").unwrap()..]);
    // A tied parameter is not shared (a tie of shared ones is). (With --model-for each model
    // takes the ties of its names: `a_tie_applies_to_the_models_that_have_its_name`.)
    let refused = |extra: &[&str]| -> String {
        let args = ["fit", "A*exp(-t/tau) + B", path, "--sets", "detector", "--tie", "B = A/10"];
        let out = jitfit(&[&args[..], extra].concat(), &cache);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        stderr(&out)
    };
    expect_test::expect![[r#"
        error: --shared B: `B` is tied (--tie 'B = A/10'): it is computed, not fitted
    "#]]
    .assert_eq(&refused(&["--shared", "tau,B"]));
}

#[test]
fn a_structured_global_fit_reports_as_a_single_fit_does() {
    let cache = TempDir::new("cli-global-report");
    let dir = TempDir::new("cli-global-report-data");
    let (long, _) = global_data(&dir);
    let path = long.to_str().unwrap();
    let out = jitfit(
        &["fit", "A*exp(-t/tau) + B", path, "--sets", "detector", "--shared", "tau", "--p0", "tau=1,A_3=4"],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout(&out).replace(path, "long.csv");
    let shown = &report[..report.find("[[Timing]]").unwrap()];
    expect_test::expect![[r#"
        [[Model]]
            A*exp(-t/tau) + B
        [[Data]]
            long.csv: 90 points; variables t; response y
            response: column `y`, by its name (--y COLUMN chooses another)
            variable `t`: the only column named in the model (--vars chooses)
            global fit: 3 data sets by `detector` (1 = det_a, 2 = det_b, 3 = det_c); shared: tau; per set: A, B (named NAME_1, NAME_2, …)
            solver: structured, each set's own parameters eliminated in every step (--global-solver dense: the sets as one model)
            set 1: 30 points, chi-square 0.00481663
            set 2: 30 points, chi-square 0.00479416
            set 3: 30 points, chi-square 0.00472835
        [[Fit Statistics]]
            fitting method       = lm, structured over the sets (loss linear)
            backend              = cpu
            function evals       = 7 (Jacobian evals 7)
            data points          = 90
            variables            = 7 free of 7
            chi-square           = 0.0143391
            reduced chi-square   = 1.72761e-4
            Akaike info crit     = -773.012
            Bayesian info crit   = -755.513
            R-squared            = 0.999842
            optimality           = 9.50104e-14
        [[Variables]]
            tau =       2.5022 ± 0.01084 (0.43%)  (init = 1)
            A_1 =      2.99595 ± 0.00885649 (0.30%)  (init = 1, by default)
            B_1 =     0.500735 ± 0.00435655 (0.87%)  (init = 1, by default)
            A_2 =      2.00173 ± 0.00884898 (0.44%)  (init = 1, by default)
            B_2 =     0.199682 ± 0.00382623 (1.92%)  (init = 1, by default)
            A_3 =      4.00122 ± 0.00886711 (0.22%)  (init = 4)
            B_3 =      0.99822 ± 0.00501227 (0.50%)  (init = 1, by default)
        [[Correlations]] (unreported correlations are < 0.1)
            C(tau, B_3)  = -0.7460
            C(tau, B_1)  = -0.6427
            C(A_2, B_2)  = -0.5878
            C(A_1, B_1)  = -0.4961
            C(tau, B_2)  = -0.4889
            C(B_1, B_3)  = +0.4794
            C(A_3, B_3)  = -0.4065
            C(B_2, B_3)  = +0.3647
            C(B_1, B_2)  = +0.3142
        [[Status]]
            converged: `ftol` termination condition is satisfied. (status 2)
    "#]].assert_eq(shown);
    // What the structured solver cannot do is refused, or sent to the dense rewrite and said.
    let refused = |extra: &[&str]| -> String {
        let out = jitfit(
            &[&["fit", "A*exp(-t/tau) + B", path, "--sets", "detector", "--shared", "tau"], extra].concat(),
            &cache,
        );
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        stderr(&out)
    };
    expect_test::expect![[r#"
        error: --loss is not available with --global-solver structured: use --global-solver dense (at most 200 sets)
        error: --bounds A_2: bounds and fixed values of one set need --global-solver dense
        error: --global-solver: `fast` is not one of auto, structured, dense
        error: --shared tua: not a parameter of the model (parameters: A, tau, B)
        error: the global fit names `A` of set 2 `A_2`, which the model uses already: rename it
    "#]]
    .assert_eq(
        &[
            refused(&["--loss", "soft_l1", "--global-solver", "structured"]),
            refused(&["--bounds", "A_2=0:1"]),
            refused(&["--global-solver", "fast"]),
            refused(&["--global-solver", "dense", "--shared", "tua"]),
            {
                let out = jitfit(
                    &["fit", "A*exp(-t/tau) + B + 0*A_2", path, "--sets", "detector", "--shared", "tau"],
                    &cache,
                );
                stderr(&out)
            },
        ]
        .concat(),
    );
    let dense = jitfit(
        &["fit", "A*exp(-t/tau) + B", path, "--sets", "detector", "--shared", "tau", "--loss", "soft_l1"],
        &cache,
    );
    assert_eq!(dense.status.code(), Some(0), "{}", stderr(&dense));
    let notes: Vec<String> = stdout(&dense).lines().filter(|l| l.contains("solver:")).map(str::to_owned).collect();
    expect_test::expect!["    solver: dense, the sets written as one model (for --loss; at most 200 sets)"]
        .assert_eq(&notes.join("\n"));
    // The JSON's joint covariance (between two sets' own parameters too) is the dense
    // rewrite's, pair by pair by name.
    let as_json = |extra: &[&str]| -> serde_json::Value {
        let args =
            [&["fit", "A*exp(-t/tau) + B", path, "--sets", "detector", "--shared", "tau", "--json"], extra].concat();
        let out = jitfit(&args, &cache);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let (structured, dense) = (as_json(&[]), as_json(&["--global-solver", "dense"]));
    let names = |json: &serde_json::Value| -> Vec<String> {
        json["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect()
    };
    let (names_s, names_d) = (names(&structured), names(&dense));
    assert_eq!(names_s.len(), 7);
    for (a, name_a) in names_s.iter().enumerate() {
        for (b, name_b) in names_s.iter().enumerate() {
            let (da, db) =
                (names_d.iter().position(|n| n == name_a).unwrap(), names_d.iter().position(|n| n == name_b).unwrap());
            for matrix in ["covariance", "correlation"] {
                let found = structured[matrix][a][b].as_f64().unwrap();
                let expected = dense[matrix][da][db].as_f64().unwrap();
                assert!(
                    (found - expected).abs() <= 1e-6 * expected.abs().max(1e-12),
                    "{matrix}({name_a}, {name_b}): {found} vs {expected}"
                );
            }
        }
    }
    // Beyond the dense rewrite's 200 sets: summarized in [[Data]], every set in the JSON.
    let many = dir.path().join("many.csv");
    decays_by_run(&many, 250);
    let many = many.to_str().unwrap();
    let args = ["fit", "A*exp(-t/tau) + B", many, "--sets", "run", "--shared", "tau", "--p0", "tau=1"];
    let out = jitfit(&args, &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout(&out);
    let note = report.lines().find(|l| l.contains("global fit:")).unwrap();
    expect_test::expect!["    global fit: 250 data sets by `run` (1 = r0, 2 = r1, 3 = r2, 4 = r3, 5 = r4, 6 = r5, 7 = r6, 8 = r7, 9 = r8, 10 = r9, …, 250 = r249); shared: tau; per set: A, B (named NAME_1, NAME_2, …)"].assert_eq(note);
    let json = jitfit(&[&args[..], &["--json"]].concat(), &cache);
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(json["global"]["sets"].as_array().unwrap().len(), 250);
    assert_eq!(json["parameters"].as_array().unwrap().len(), 501);
    // Past 500 parameters no joint matrix (each set's block is in `global.sets`), and said.
    assert!(json["covariance"].is_null() && json["correlation"].is_null());
    assert_eq!(json["global"]["sets"][7]["covariance"].as_array().unwrap().len(), 3);
    let header = report.lines().find(|l| l.starts_with("[[Correlations]]")).unwrap();
    expect_test::expect!["[[Correlations]] (unreported correlations are < 0.1; none between two sets' own parameters: over 500 parameters)"].assert_eq(header);
    let dense = jitfit(&[&args[..], &["--global-solver", "dense"]].concat(), &cache);
    expect_test::expect![[r#"
        error: --sets run: 250 data sets; the dense global fit takes at most 200 (its Jacobian is dense over every set's parameters: 200 sets of 25 points and 6 parameters take 10 s, and the cost grows with the cube); the structured solver takes any number: leave out --global-solver dense
    "#]].assert_eq(&stderr(&dense));
}

/// A batch's summary figure: a histogram of each parameter and of χ²/dof over the converged
/// fits (golden SVG), from either solver.
#[test]
fn a_batch_plots_histograms_of_its_parameters() {
    let cache = TempDir::new("cli-batch-plot");
    let dir = TempDir::new("cli-batch-plot-out");
    let data = dir.path().join("lines.csv");
    let mut text = String::from("id,x,y\n");
    for k in 0..60 {
        let (slope, intercept) = (1.0 + 0.01 * ((k * 17) % 23) as f64, 0.5 + 0.02 * ((k * 7) % 11) as f64);
        for i in 0..6 {
            let noise = 0.01 * (((k + 3 * i) % 5) as f64 - 2.0);
            text += &format!("s{k},{i},{:?}\n", slope * i as f64 + intercept + noise);
        }
    }
    std::fs::write(&data, text).unwrap();
    let svg = dir.path().join("batch.svg");
    for solver in ["exact", "compact"] {
        let out = jitfit(
            &[
                "batch",
                "a*x + b",
                data.to_str().unwrap(),
                "--by",
                "id",
                "--solver",
                solver,
                "--plot",
                svg.to_str().unwrap(),
            ],
            &cache,
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let drawn = std::fs::read_to_string(&svg).unwrap();
        assert_eq!(drawn.matches(r#"<path class="bars""#).count(), 3, "{solver}");
        if solver == "exact" {
            expect_test::expect_file!["snapshots/plot_batch.svg"].assert_eq(&drawn);
        }
    }
}

/// Data on a grid of two variables: heat maps of observed, fitted and residuals (golden
/// SVG); a grid wider than 150 cells drawn as block averages, said.
#[test]
fn gridded_data_are_drawn_as_heat_maps() {
    let cache = TempDir::new("cli-plot-maps");
    let dir = TempDir::new("cli-plot-maps-out");
    let svg = dir.path().join("spot.svg");
    let model = "z = gaussian2d_rotated(x, y, A, cx, cy, sx, sy, th) + B";
    let out = jitfit(
        &[
            "fit",
            model,
            "docs/img/spot.csv",
            "--vars",
            "x,y",
            "--p0",
            "A=400,cx=10,cy=10,sx=2,sy=2,th=0.3,B=1",
            "--plot",
        ]
        .into_iter()
        .chain([svg.to_str().unwrap()])
        .collect::<Vec<_>>(),
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let drawn = std::fs::read_to_string(&svg).unwrap();
    expect_test::expect_file!["snapshots/plot_spot.svg"].assert_eq(&drawn);
    for class in ["observed", "fitted", "residuals"] {
        assert!(drawn.contains(&format!(r#"<g class="{class}">"#)), "{class}");
    }
    // 400 × 3 cells: block averages of 3 × 1.
    let wide = dir.path().join("wide.csv");
    let rows: String = (0..1200)
        .map(|k| format!("{},{},{}\n", k % 400, k / 400, 1.0 + 0.01 * (k % 400) as f64 + (k % 7) as f64 * 1e-3))
        .collect();
    std::fs::write(&wide, format!("x,y,z\n{rows}")).unwrap();
    let out = jitfit(
        &["fit", "z = a*x + b*y + c", wide.to_str().unwrap(), "--vars", "x,y", "--plot", svg.to_str().unwrap()],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let note = err.lines().find(|l| l.contains("--plot")).unwrap();
    expect_test::expect!["note: --plot: a 400 × 3 grid drawn as the averages of 3 × 1 blocks"].assert_eq(note);
}

/// A global fit's plot: a panel per set with its data and curve, the shared parameters under
/// the title (golden SVG); past 12 sets the first 12, said; not with the dense rewrite.
#[test]
fn global_fits_plot_a_panel_per_set() {
    let cache = TempDir::new("cli-global-plot");
    let dir = TempDir::new("cli-global-plot-data");
    let (long, _) = global_data(&dir);
    let path = long.to_str().unwrap();
    let svg = dir.path().join("sets.svg");
    let args = ["fit", "A*exp(-t/tau) + B", path, "--sets", "detector", "--shared", "tau", "--p0", "tau=1,A_3=4"];
    let out = jitfit(&[&args[..], &["--plot", svg.to_str().unwrap()]].concat(), &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    expect_test::expect_file!["snapshots/plot_sets.svg"].assert_eq(&std::fs::read_to_string(&svg).unwrap());
    // The dense rewrite draws no sets.
    let out = jitfit(&[&args[..], &["--plot", svg.to_str().unwrap(), "--loss", "soft_l1"]].concat(), &cache);
    assert_eq!(out.status.code(), Some(1));
    expect_test::expect![[r#"
        error: --plot with --sets draws each set from the structured solver's fit: not with the dense rewrite (solver: dense, the sets written as one model (for --loss; at most 200 sets))
    "#]]
    .assert_eq(&stderr(&out));
    // 15 sets: 12 panels, and a note.
    let many = dir.path().join("many.csv");
    decays_by_run(&many, 15);
    let out = jitfit(
        &["fit", "A*exp(-t/tau) + B", many.to_str().unwrap(), "--sets", "run", "--shared", "tau", "--p0", "tau=1"]
            .into_iter()
            .chain(["--plot", svg.to_str().unwrap()])
            .collect::<Vec<_>>(),
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let note = err.lines().find(|l| l.contains("--plot")).unwrap();
    expect_test::expect!["note: --plot: the first 12 of 15 data sets drawn (the report has them all)"].assert_eq(note);
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(drawn.matches(r#"<g class="data""#).count(), 12);
    assert_eq!(drawn.matches(r#"<polyline class="fit""#).count(), 12);
}

#[test]
fn several_files_are_a_global_fit_one_set_per_file() {
    let cache = TempDir::new("cli-global-files");
    let dir = TempDir::new("cli-global-files-data");
    let (long, _) = global_data(&dir);
    // One file per detector, the rows of `long.csv` in order.
    let text = std::fs::read_to_string(&long).unwrap();
    let files: Vec<String> = ["det_a", "det_b", "det_c"]
        .iter()
        .map(|name| {
            let rows: String =
                text.lines().filter(|l| l.starts_with(name)).map(|l| format!("{}\n", &l[name.len() + 1..])).collect();
            let path = dir.path().join(format!("{name}.csv"));
            std::fs::write(&path, format!("t,y\n{rows}")).unwrap();
            path.to_str().unwrap().to_owned()
        })
        .collect();
    let run = |args: &[&str]| -> serde_json::Value {
        let out = jitfit(&[args, &["--json", "--p0", "tau=1"]].concat(), &cache);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let by_files = run(&["fit", "A*exp(-t/tau) + B", &files[0], &files[1], &files[2], "--shared", "tau"]);
    let by_column = run(&["fit", "A*exp(-t/tau) + B", long.to_str().unwrap(), "--sets", "detector", "--shared", "tau"]);
    // The same rows in the same order: the same numbers, bit for bit.
    assert_eq!(by_files["parameters"], by_column["parameters"]);
    let labels: Vec<&str> =
        by_files["global"]["sets"].as_array().unwrap().iter().map(|s| s["label"].as_str().unwrap()).collect();
    assert_eq!(labels, files.iter().map(String::as_str).collect::<Vec<_>>());
    let note = by_files["data"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n.as_str().unwrap().starts_with("global fit"))
        .unwrap();
    assert_eq!(
        note.as_str().unwrap(),
        format!(
            "global fit: 3 data sets one per file (1 = {}, 2 = {}, 3 = {}); shared: tau; per set: A, B (named NAME_1, NAME_2, …)",
            files[0], files[1], files[2]
        )
    );
    // Files with other columns, --sets beside files, a batch of files: refused.
    let odd = dir.path().join("odd.csv");
    std::fs::write(&odd, "t,y,z\n1,2,3\n2,3,4\n").unwrap();
    let refused = |args: &[&str]| -> String {
        let out = jitfit(args, &cache);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        stderr(&out).replace(dir.path().to_str().unwrap(), "DIR")
    };
    expect_test::expect![[r#"
        error: DIR/odd.csv: columns t, y, z differ from DIR/det_a.csv's (t, y); a global fit over files needs the same columns in each
        error: --sets t splits one file into data sets; with several files, each file is a data set
        error: a batch reads one data file (its fits by --by COLUMN); several files are a global fit: jitfit fit
    "#]].assert_eq(
        &[
            refused(&["fit", "A*exp(-t/tau) + B", &files[0], odd.to_str().unwrap(), "--shared", "tau"]),
            refused(&["fit", "A*exp(-t/tau) + B", &files[0], &files[1], "--sets", "t"]),
            refused(&["batch", "A*exp(-t/tau) + B", &files[0], &files[1], "--by", "t"]),
        ]
        .concat(),
    );
}

#[test]
fn guessed_starts_are_marked_in_the_report_and_the_json() {
    let cache = TempDir::new("cli-guessed");
    let args = [
        "fit",
        "gaussian(x, A1, c1, s1) + gaussian(x, A2, c2, s2) + gaussian(x, A3, c3, s3) + b",
        "tests/data/three_peaks.csv",
        "--p0",
        "b=0",
    ];
    let out = jitfit(&args, &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout(&out);
    let variables: String =
        report.lines().skip_while(|l| *l != "[[Variables]]").take(11).map(|l| format!("{l}\n")).collect();
    expect_test::expect![[r#"
        [[Variables]]
            A1 =      4.86194 ± 0.073003 (1.50%)  (init = 5.68028, guessed)
            c1 =      8.00823 ± 0.0103366 (0.13%)  (init = 8, guessed)
            s1 =     0.663087 ± 0.0107371 (1.62%)  (init = 0.747301, guessed)
            A2 =      5.68226 ± 0.101052 (1.78%)  (init = 6.95567, guessed)
            c2 =       15.029 ± 0.0194924 (0.13%)  (init = 14.95, guessed)
            s2 =      1.12297 ± 0.0207402 (1.85%)  (init = 1.23557, guessed)
            A3 =      4.27807 ± 0.097636 (2.28%)  (init = 5.25055, guessed)
            c3 =      22.0419 ± 0.0238871 (0.11%)  (init = 21.95, guessed)
            s3 =      1.06427 ± 0.025338 (2.38%)  (init = 1.1149, guessed)
            b  =     0.778101 ± 0.00906402 (1.16%)  (init = 0)
    "#]]
    .assert_eq(&variables);
    let json = jitfit(&[&args[..], &["--json"]].concat(), &cache);
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let guessed: Vec<bool> =
        json["parameters"].as_array().unwrap().iter().map(|p| p["initial_guessed"].as_bool().unwrap()).collect();
    assert_eq!(guessed, [true, true, true, true, true, true, true, true, true, false]);
}

#[test]
fn a_data_set_can_have_its_own_model() {
    let cache = TempDir::new("cli-model-for");
    let dir = TempDir::new("cli-model-for-data");
    let mut text = String::from("run,t,y\n");
    for (run, shift) in [("a", 0), ("b", 3)] {
        for i in 0..40 {
            let t = i as f64 * 0.25;
            let wiggle = 0.01 * ((((i + shift) * 7) % 11) as f64 - 5.0) / 5.0;
            let y = if run == "a" {
                3.0 * (-t / 1.2f64).exp() + 0.4
            } else {
                2.0 * (-t / 1.2f64).exp() + 1.5 * (-t / 6.0f64).exp()
            };
            text += &format!("{run},{t:?},{:?}\n", y + wiggle);
        }
    }
    let path = dir.path().join("runs.csv");
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap();
    let args = ["fit", "A*exp(-t/tau) + B", path, "--sets", "run", "--shared", "tau", "--p0", "tau=1,slow=4"];
    let second = ["--model-for", "b", "A*exp(-t/tau) + C*exp(-t/slow)"];
    let out = jitfit(&[&args[..], &second[..]].concat(), &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout(&out);
    let shown: String = report
        .lines()
        .filter(|l| l.contains("model of set") || l.contains(" = ") && l.contains('±'))
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    expect_test::expect![[r#"
            model of set 2 = b: A*exp(-t/tau) + C*exp(-t/slow) (--model-for)
            tau    =      1.20161 ± 0.00363582 (0.30%)  (init = 1)
            A_1    =      2.99686 ± 0.00494007 (0.16%)  (init = 1, by default)
            B_1    =     0.400037 ± 0.00142981 (0.36%)  (init = 1, by default)
            A_2    =      2.01274 ± 0.0115711 (0.57%)  (init = 1, by default)
            C_2    =        1.492 ± 0.00917431 (0.61%)  (init = 1, by default)
            slow_2 =      6.03133 ± 0.0403564 (0.67%)  (init = 4)
    "#]]
    .assert_eq(&shown);
    let refused = |extra: &[&str]| -> String {
        let out = jitfit(&[&args[..], extra].concat(), &cache);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        stderr(&out)
    };
    expect_test::expect![[r#"
        error: --model-for c: no data set is named so (sets: 1 = a, 2 = b)
        error: --loss needs the dense global fit, which has one model for every set: it cannot take --model-for
        error: --model-for needs the structured solver: the dense global fit writes one model for every set
        error: --model-for `A*t + run`: `run` is a column of the data, but not a variable of the model: name the variables with --vars
    "#]].assert_eq(
        &[
            refused(&["--model-for", "c", "A*t"]),
            refused(&["--model-for", "b", "A*t", "--loss", "soft_l1"]),
            refused(&["--model-for", "b", "A*t", "--global-solver", "dense"]),
            refused(&["--model-for", "b", "A*t + run"]),
        ]
        .concat(),
    );
}

#[test]
fn guess_searches_starts_for_any_model() {
    let cache = TempDir::new("cli-presearch");
    let dir = TempDir::new("cli-presearch-data");
    let mut text = String::from("x,y\n");
    for i in 0..200 {
        let x = i as f64 * 0.05;
        text += &format!("{x:?},{:?}\n", 2.0 * (3.7 * x).sin() + 0.01 * (((i * 7) % 11) as f64 - 5.0) / 5.0);
    }
    let path = dir.path().join("wave.csv");
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap();
    let args = ["fit", "a*sin(w*x)", path, "--bounds", "a=0:5,w=0.5:6"];
    let shown = |out: &Output| trimmed_lines(out, |l| l.contains("pre-search") || l.starts_with("w ="));
    let plain = jitfit(&args, &cache);
    let guessed = jitfit(&[&args[..], &["--guess"]].concat(), &cache);
    assert_eq!(guessed.status.code(), Some(0), "{}", stderr(&guessed));
    expect_test::expect![[r#"
        w =      1.07218 ± 0.270103 (25.19%)  (init = 1, by default)
        --
        pre-search: Σr² at 256 Sobol' points over w in [0.5, 6] (its bounds); a by linear least squares at each point (the model is linear in them)
        starts from the pre-search (--guess): a = 2.00001, w = 3.70117 (Σr² 0.0256144 there, 487.351 at the default start)
        w =          3.7 ± 5.65437e-5 (0.00%)  (init = 3.70117, guessed)
    "#]].assert_eq(&(shown(&plain) + "--\n" + &shown(&guessed)));
    let refused = jitfit(&[&args[..], &["--guess", "--no-guess"]].concat(), &cache);
    expect_test::expect![[r#"
        error: --guess cannot be combined with --no-guess
    "#]]
    .assert_eq(&stderr(&refused));
    // Bounds out of order are refused before the search (its least-squares solve clamps to them).
    let reversed = jitfit(&["fit", "a*sin(w*x)", path, "--bounds", "a=5:0,w=0.5:6", "--guess"], &cache);
    assert_eq!(reversed.status.code(), Some(1));
    expect_test::expect![[r#"
        error: `a`: the lower bound 5 is not below the upper bound 0
    "#]]
    .assert_eq(&stderr(&reversed));
}

/// The REPL's `ci` after a structured global fit: the sets written as one model (as `jitfit
/// fit --sets … --ci` takes), fitted again from the structured fit's values — said, with both
/// χ² — and its intervals are the CLI's, line for line.
#[test]
fn the_repl_takes_ci_after_a_structured_global_fit_on_the_dense_rewrite() {
    let cache = TempDir::new("cli-global-repl-ci");
    let dir = TempDir::new("cli-global-repl-ci-data");
    let (long, _) = global_data(&dir);
    // Numeric ids: the REPL reads numbers.
    let numeric = dir.path().join("numeric.csv");
    let text =
        std::fs::read_to_string(&long).unwrap().replace("det_a,", "1,").replace("det_b,", "2,").replace("det_c,", "3,");
    std::fs::write(&numeric, text).unwrap();
    let path = numeric.to_str().unwrap();
    let script = format!("load {path}\nmodel A*exp(-t/tau) + B\nsets detector\nshared tau\nfit\nci 1\n");
    let repl = crate::support::run_repl(script.as_bytes(), &cache);
    assert_eq!(repl.status.code(), Some(0), "{}", stderr(&repl));
    let cli = jitfit(&["fit", "A*exp(-t/tau) + B", path, "--sets", "detector", "--shared", "tau", "--ci", "1"], &cache);
    assert_eq!(cli.status.code(), Some(0), "{}", stderr(&cli));
    let intervals = |out: &str| -> String {
        out.lines()
            .skip_while(|l| !l.starts_with("[[Confidence Intervals]]"))
            .take_while(|l| !l.starts_with("[[Status]]"))
            .filter(|l| !l.contains(" refits in ")) // (timed)
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let (repl, cli) = (stdout(&repl), stdout(&cli));
    assert_eq!(intervals(&repl), intervals(&cli));
    assert_eq!(intervals(&cli).lines().count(), 9, "{cli}");
    let said: Vec<&str> = repl.lines().filter(|l| l.starts_with("ci: ")).collect();
    expect_test::expect![[r#"
        ci: on the sets written as one model (the dense rewrite), fitted again from the structured fit's values: chi-square 0.0143391 (structured 0.0143391)
    "#]]
    .assert_eq(&format!("{}\n", said.join("\n")));
}

/// `--tie` with `--model-for`: each model takes the ties of its own names. A tie of a
/// parameter only det_b's model has is that set's alone (`C_2` in [[Tied]]), and the fit is
/// the one with the tie written into det_b's model by hand; a tie no model names is refused.
#[test]
fn a_tie_applies_to_the_models_that_have_its_name() {
    let cache = TempDir::new("cli-global-tie-model-for");
    let dir = TempDir::new("cli-global-tie-model-for-data");
    let (long, _) = global_data(&dir);
    let path = long.to_str().unwrap();
    let base = ["fit", "A*exp(-t/tau) + B", path, "--sets", "detector", "--shared", "tau", "--p0", "tau=1"];
    let run = |extra: &[&str]| jitfit(&[&base[..], extra].concat(), &cache);
    let tied = run(&["--model-for", "det_b", "A*exp(-t/tau) + B + C*t", "--tie", "C = B/10"]);
    assert_eq!(tied.status.code(), Some(0), "{}", stderr(&tied));
    let by_hand = run(&["--model-for", "det_b", "A*exp(-t/tau) + B + B/10*t", "--json"]);
    let tied_json = run(&["--model-for", "det_b", "A*exp(-t/tau) + B + C*t", "--tie", "C = B/10", "--json"]);
    let (ours, theirs) = (
        parameters(&serde_json::from_str(&stdout(&tied_json)).unwrap()),
        parameters(&serde_json::from_str(&stdout(&by_hand)).unwrap()),
    );
    assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>());
    for (name, (value, stderr)) in &ours {
        let (v, s) = theirs[name];
        assert!(
            (value - v).abs() <= 1e-12 * v.abs() && (stderr - s).abs() <= 1e-9 * s,
            "{name}: {value} ± {stderr} vs {v} ± {s}"
        );
    }
    let shown: String = stdout(&tied)
        .lines()
        .skip_while(|l| !l.starts_with("[[Tied]]"))
        .take(2)
        .chain(stdout(&tied).lines().filter(|l| l.contains("(--model-for)")))
        .map(|l| format!("{l}\n"))
        .collect();
    expect_test::expect![[r#"
        [[Tied]] (--tie: not fitted, computed; standard errors by the delta method)
            C_2 =    0.0111485 ± 2.49226e-4  (= B/10)
            model of set 2 = det_b: C = B/10; A*exp(-t/tau) + B + C*t (--model-for)
    "#]]
    .assert_eq(&shown);
    let nowhere = run(&["--model-for", "det_b", "A*exp(-t/tau) + B + C*t", "--tie", "D = B/10"]);
    assert_eq!(nowhere.status.code(), Some(1));
    expect_test::expect![[r#"
        error: --tie `D = B/10`: `D` is a name of none of the models (the main one and --model-for's)
    "#]]
    .assert_eq(&stderr(&nowhere));
}

/// `--guess` in a global fit: each set's pre-search; the shared width at the median of the
/// sets' best points, then each set's own amplitude, centre and offset searched again with it
/// held (amplitudes and offsets solved by least squares at each point). Three peaks at 40,
/// 55 and 70 sharing w = 6 are found where the default start (every parameter 1) ends far
/// away; with the dense rewrite `--guess` is refused.
#[test]
fn guess_searches_each_set_of_a_global_fit() {
    let cache = TempDir::new("cli-global-guess");
    let dir = TempDir::new("cli-global-guess-data");
    let mut text = String::from("run,x,y\n");
    for (k, (name, a, m)) in [("r1", 5.0, 40.0), ("r2", 8.0, 55.0), ("r3", 6.0, 70.0)].iter().enumerate() {
        for i in 0..101 {
            let x = i as f64;
            let noise = 0.05 * (((i * 7 + k * 3) % 11) as f64 - 5.0) / 5.0;
            text += &format!("{name},{x:?},{:?}\n", a * (-(x - m) * (x - m) / 72.0f64).exp() + 0.3 + noise);
        }
    }
    let path = dir.path().join("peaks.csv");
    std::fs::write(&path, text).unwrap();
    let args = ["fit", "A*exp(-(x-m)^2/(2*w^2)) + B", path.to_str().unwrap(), "--sets", "run", "--shared", "w"];
    let shown = |out: &Output| {
        trimmed_lines(out, |l| {
            l.contains("pre-search") || l.contains("(--guess)") || l.starts_with("m_") || l.starts_with("w ")
        })
    };
    let plain = jitfit(&args, &cache);
    let guessed = jitfit(&[&args[..], &["--guess"]].concat(), &cache);
    assert_eq!(guessed.status.code(), Some(0), "{}", stderr(&guessed));
    expect_test::expect![[r#"
        w   =     -15.8487 ± 3.6395 (22.96%)  (init = 1, by default)
        m_1 =     -5.87388 ± 21.3044 (362.70%)  (init = 1, by default)
        m_2 =       13.181 ± 4.78283 (36.29%)  (init = 1, by default)
        m_3 =      25.0079 ± 3.4586 (13.83%)  (init = 1, by default)
        --
        pre-search of set 1: Σr² at 256 Sobol' points over m in [0, 100] (x's range: a location in x), w in [0, 50.79] (the start's side of 0: the model is even in w); A, B by linear least squares at each point (the model is linear in them); Σr² 12.8705 there, 215.313 at the start before it
        pre-search of set 2: Σr² at 256 Sobol' points over m in [0, 100] (x's range: a location in x), w in [0, 80.18] (the start's side of 0: the model is even in w); A, B by linear least squares at each point (the model is linear in them); Σr² 55.5833 there, 566.707 at the start before it
        pre-search of set 3: Σr² at 256 Sobol' points over m in [0, 100] (x's range: a location in x), w in [0, 60.26] (the start's side of 0: the model is even in w); A, B by linear least squares at each point (the model is linear in them); Σr² 2.03327 there, 311.189 at the start before it
        shared starts at the median of the sets' (--guess): w = 6.59094; each set's own parameters searched again with them held:
        pre-search of set 1: Σr² at 256 Sobol' points over m in [0, 100] (x's range: a location in x); A, B by linear least squares at each point (the model is linear in them); Σr² 1.19755 there, 231.197 at the start before it
        pre-search of set 2: Σr² at 256 Sobol' points over m in [0, 100] (x's range: a location in x); A, B by linear least squares at each point (the model is linear in them); Σr² 2.76161 there, 582.653 at the start before it
        pre-search of set 3: Σr² at 256 Sobol' points over m in [0, 100] (x's range: a location in x); A, B by linear least squares at each point (the model is linear in them); Σr² 1.58812 there, 327.119 at the start before it
        starts of each set's own A, m, B from its pre-search (--guess)
        w   =      6.00009 ± 0.00804968 (0.13%)  (init = 6.59094, guessed)
        m_1 =      39.9996 ± 0.0167545 (0.04%)  (init = 39.8438, guessed)
        m_2 =      55.0003 ± 0.0104734 (0.02%)  (init = 55.0781, guessed)
        m_3 =      69.9997 ± 0.0139628 (0.02%)  (init = 69.9219, guessed)
    "#]]
    .assert_eq(&(shown(&plain) + "--\n" + &shown(&guessed)));
    // A start given for one set stands; the others are searched around it.
    let given = jitfit(&[&args[..], &["--guess", "--p0", "m_2=55"]].concat(), &cache);
    expect_test::expect![[r#"
        pre-search of set 1: Σr² at 256 Sobol' points over m in [0, 100] (x's range: a location in x), w in [0, 50.79] (the start's side of 0: the model is even in w); A, B by linear least squares at each point (the model is linear in them); Σr² 12.8705 there, 215.313 at the start before it
        pre-search of set 2: Σr² at 256 Sobol' points over w in [0, 70.67] (the start's side of 0: the model is even in w); A, B by linear least squares at each point (the model is linear in them); Σr² 0.145636 there, 527.418 at the start before it
        pre-search of set 3: Σr² at 256 Sobol' points over m in [0, 100] (x's range: a location in x), w in [0, 60.26] (the start's side of 0: the model is even in w); A, B by linear least squares at each point (the model is linear in them); Σr² 2.03327 there, 311.189 at the start before it
        shared starts at the median of the sets' (--guess): w = 6.07277; each set's own parameters searched again with them held:
        pre-search of set 1: Σr² at 256 Sobol' points over m in [0, 100] (x's range: a location in x); A, B by linear least squares at each point (the model is linear in them); Σr² 0.207057 there, 229.825 at the start before it
        pre-search of set 2: A, B by linear least squares from the start (the model is linear in them); Σr² 0.145636 there, 422.626 at the start before it
        pre-search of set 3: Σr² at 256 Sobol' points over m in [0, 100] (x's range: a location in x); A, B by linear least squares at each point (the model is linear in them); Σr² 0.155272 there, 325.744 at the start before it
        starts of each set's own A, m, B from its pre-search (--guess)
        w   =      6.00009 ± 0.00804968 (0.13%)  (init = 6.07277, guessed)
        m_1 =      39.9996 ± 0.0167545 (0.04%)  (init = 39.8438, guessed)
        m_2 =      55.0003 ± 0.0104734 (0.02%)  (init = 55)
        m_3 =      69.9997 ± 0.0139628 (0.02%)  (init = 69.9219, guessed)
    "#]]
    .assert_eq(&shown(&given));
    let reversed = jitfit(&[&args[..], &["--guess", "--bounds", "A=5:1"]].concat(), &cache);
    expect_test::expect![[r#"
        error: the pre-search of set 1: `A`: the lower bound 5 is not below the upper bound 1
    "#]]
    .assert_eq(&stderr(&reversed));
    let dense = jitfit(&[&args[..], &["--guess", "--global-solver", "dense"]].concat(), &cache);
    expect_test::expect![[r#"
        error: --guess with --sets searches each set on the structured solver: not with the dense rewrite (solver: dense, the sets written as one model (--global-solver dense))
    "#]]
    .assert_eq(&stderr(&dense));
}

/// A build without MPI support, started by mpirun as several processes, refuses to fit the
/// whole data once per process (each printing the same report).
#[test]
fn several_processes_without_mpi_support_are_refused() {
    let cache = TempDir::new("cli-mpi");
    let run = |command: &str| {
        Command::new(env!("CARGO_BIN_EXE_jitfit"))
            .args([command, "a*x + b", "tests/data/xyz.csv", "--y", "y"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("JITFIT_CACHE_DIR", cache.path())
            .env("OMPI_COMM_WORLD_SIZE", "2")
            .output()
            .unwrap()
    };
    for command in ["fit", "batch"] {
        let out = run(command);
        expect_test::expect![[r#"
            Some(1) error: 2 processes were started by mpirun/srun, but this build of jitfit has no MPI support: each would fit all of the data alone; build with `cargo build --release --features mpi`, or run one process
        "#]]
        .assert_eq(&format!("{:?} {}", out.status.code(), stderr(&out)));
    }
}

/// `e` in a model is Euler's number: said in [[Data]], so that a model meaning a parameter by it
/// (`pearson7(x, A, c, s, e)`) is not fitted with one parameter fewer unseen; a helper or a
/// variable named `e` is not the constant, and nothing is said.
#[test]
fn euler_e_is_said_to_be_a_constant() {
    let cache = TempDir::new("cli-euler");
    let data = |out: &Output| -> String {
        let report = stdout(out);
        report
            .lines()
            .skip_while(|l| *l != "[[Data]]")
            .take_while(|l| *l != "[[Fit Statistics]]")
            .collect::<Vec<_>>()
            .join("\n")
    };
    let args = ["examples/data/decay.csv", "--x", "time", "--y", "signal", "--sigma", "err"];
    let out = jitfit(&[&["fit", "a*e^(-b*x) + c"][..], &args].concat(), &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    expect_test::expect![[r#"
        [[Data]]
            examples/data/decay.csv: 100 points; variables x ← time; response signal; sigma err
            `e` is Euler's number 2.718281828…, not a parameter (name a parameter otherwise)"#]]
    .assert_eq(&data(&out));
    let out = jitfit(&[&["fit", "e = 2.5; a*e^(-b*x) + c"][..], &args].concat(), &cache);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!data(&out).contains("Euler"), "{}", data(&out));
}

/// Errors in x in a global fit (`--sigma-x` with `--sets`) take the dense rewrite and equal
/// the same fit written by hand with indicator columns, line for line; the structured solver
/// refuses it by name.
#[test]
fn errors_in_x_in_a_global_fit_equal_the_fit_with_indicator_columns() {
    let cache = TempDir::new("cli-global-sigma-x");
    let dir = TempDir::new("cli-global-sigma-x-data");
    let (mut sets, mut hand) = (String::from("x,y,dx,dy,set\n"), String::from("x,y,dx,dy,i1,i2,i3\n"));
    for (k, b) in [0.5, 1.5, -1.0].iter().enumerate() {
        for i in 0..12 {
            let x = i as f64 * 0.5 + 0.05 * (((i * 5 + k * 3) % 7) as f64 / 3.0 - 1.0);
            let y = 2.0 * (0.2 * x).exp() + b + 0.1 * (((i * 7 + k) % 11) as f64 / 5.0 - 1.0);
            let dx = 0.05 + 0.01 * (i % 3) as f64;
            sets += &format!("{x:?},{y:?},{dx:?},0.1,{}\n", k + 1);
            let indicators: Vec<&str> = (0..3).map(|j| if j == k { "1" } else { "0" }).collect();
            hand += &format!("{x:?},{y:?},{dx:?},0.1,{}\n", indicators.join(","));
        }
    }
    let (sets_path, hand_path) = (dir.path().join("sets.csv"), dir.path().join("hand.csv"));
    std::fs::write(&sets_path, sets).unwrap();
    std::fs::write(&hand_path, hand).unwrap();
    let errors = ["--sigma-x", "x=dx", "--sigma", "dy"];
    let global = jitfit(
        &[&["fit", "a*exp(0.2*x) + b", sets_path.to_str().unwrap(), "--sets", "set", "--shared", "a"], &errors[..]]
            .concat(),
        &cache,
    );
    assert_eq!(global.status.code(), Some(0), "{}", stderr(&global));
    let by_hand = jitfit(
        &[
            &["fit", "a*exp(0.2*x) + b_1*i1 + b_2*i2 + b_3*i3", hand_path.to_str().unwrap(), "--vars", "x,i1,i2,i3"],
            &errors[..],
        ]
        .concat(),
        &cache,
    );
    assert_eq!(by_hand.status.code(), Some(0), "{}", stderr(&by_hand));
    let values = |o: &Output| trimmed_lines(o, |l| l.starts_with("a ") || l.starts_with("b_") || l.starts_with("chi"));
    assert_eq!(values(&global).lines().count(), 5, "{}", stdout(&global));
    assert_eq!(values(&global), values(&by_hand));
    expect_test::expect![[r#"
        errors in x: σ of x in dx; effective variance σ_y² + (∂f/∂x·σ_x)², exact ∂f/∂x; started from the fit with σ_y alone
        solver: dense, the sets written as one model (for --sigma-x; at most 200 sets)
    "#]]
    .assert_eq(&trimmed_lines(&global, |l| l.starts_with("errors in x") || l.starts_with("solver:")));
    let structured = jitfit(
        &[
            &["fit", "a*exp(0.2*x) + b", sets_path.to_str().unwrap(), "--sets", "set", "--shared", "a"],
            &errors[..],
            &["--global-solver", "structured"],
        ]
        .concat(),
        &cache,
    );
    assert_eq!(structured.status.code(), Some(1));
    expect_test::expect![[r#"
        error: --sigma-x is not available with --global-solver structured: use --global-solver dense (at most 200 sets)
    "#]]
    .assert_eq(&stderr(&structured));
}

/// A global fit from `.npy` column files (`--x x.npy --y y.npy --sets set.npy`, memory-mapped:
/// the large-data path) equals the same fit from the text table they were converted from.
#[test]
fn a_global_fit_reads_its_sets_from_a_npy_column() {
    let cache = TempDir::new("cli-global-npy");
    let dir = TempDir::new("cli-global-npy-data");
    let mut text = String::from("set,x,y\n");
    for (k, (a, c)) in [(3.0, 0.5), (2.0, 0.1), (4.0, 0.3)].iter().enumerate() {
        for i in 0..50 {
            let x = i as f64 * 0.1;
            let noise = 0.01 * (((i * 7 + k * 5) % 11) as f64 / 5.0 - 1.0);
            text += &format!("{},{x:?},{:?}\n", k + 1, a * (-0.7 * x).exp() + c + noise);
        }
    }
    let csv = dir.path().join("sets.csv");
    std::fs::write(&csv, text).unwrap();
    let npy = dir.path().join("columns");
    let converted = jitfit(&["convert", csv.to_str().unwrap(), npy.to_str().unwrap()], &cache);
    assert_eq!(converted.status.code(), Some(0), "{}", stderr(&converted));
    let file = |name: &str| npy.join(name).to_str().unwrap().to_owned();
    // Its example names the columns called x and y (not the first two: set, x).
    assert_eq!(
        stdout(&converted).lines().last(),
        Some(format!("fit them with, e.g.: jitfit fit MODEL --x {} --y {}", file("x.npy"), file("y.npy")).as_str())
    );
    let model = ["fit", "a*exp(-b*x) + c"];
    let from_npy = jitfit(
        &[&model[..], &["--x", &file("x.npy"), "--y", &file("y.npy"), "--sets", &file("set.npy"), "--shared", "b"]]
            .concat(),
        &cache,
    );
    assert_eq!(from_npy.status.code(), Some(0), "{}", stderr(&from_npy));
    let from_text = jitfit(&[&model[..], &[csv.to_str().unwrap(), "--sets", "set", "--shared", "b"]].concat(), &cache);
    let values =
        |o: &Output| trimmed_lines(o, |l| ["b ", "a_", "c_", "set ", "chi-square"].iter().any(|p| l.starts_with(p)));
    assert_eq!(values(&from_npy).lines().count(), 11, "{}", stdout(&from_npy));
    assert_eq!(values(&from_npy), values(&from_text));
    // A text table with its sets in a `.npy` column file; an output never overwrites it.
    let mixed =
        jitfit(&[&model[..], &[csv.to_str().unwrap(), "--sets", &file("set.npy"), "--shared", "b"]].concat(), &cache);
    assert_eq!(values(&mixed), values(&from_text), "{}", stderr(&mixed));
    let overwrite = jitfit(
        &[&model[..], &[csv.to_str().unwrap(), "--sets", &file("set.npy"), "--checkpoint", &file("set.npy")]].concat(),
        &cache,
    );
    assert_eq!(overwrite.status.code(), Some(1));
    // A set column of another length than the table is refused (it left rows out unsaid).
    let short = jitfit(&["convert", "tests/data/xyz.csv", npy.join("short").to_str().unwrap()], &cache);
    assert_eq!(short.status.code(), Some(0), "{}", stderr(&short));
    let short_set = npy.join("short").join("x.npy").to_str().unwrap().to_owned();
    let mismatched =
        jitfit(&[&model[..], &[csv.to_str().unwrap(), "--sets", &short_set, "--shared", "b"]].concat(), &cache);
    assert_eq!(mismatched.status.code(), Some(1));
    assert_eq!(
        stderr(&mismatched).replace(&short_set, "SET"),
        "error: --sets SET: 5 values, but the data have 150 rows (each column file needs one value per row)\n"
    );
    assert_eq!(
        stderr(&overwrite).replace(&file("set.npy"), "SET"),
        "error: --checkpoint SET: that is an input of this fit; write the output elsewhere\n"
    );
    expect_test::expect![[r#"
        global fit: 3 data sets by `sets (SET)` (1 = 1, 2 = 2, 3 = 3); shared: b; per set: a, c (named NAME_1, NAME_2, …)
    "#]].assert_eq(
        &trimmed_lines(&from_npy, |l| l.starts_with("global fit")).replace(&file("set.npy"), "SET"),
    );
}
