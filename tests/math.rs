//! jitfit's own `exp` and `ln` (`ops::math`) against correctly rounded values
//! (`tests/data/ulp/reference.py`, mpmath at 200 bits): how many results are off, and by how
//! many units in the last place. std's (the platform libm's) are measured alongside.

use jitfit::ops::math;

/// The signed distance between two finite doubles of one sign, in ulps.
fn ulps(a: f64, b: f64) -> i64 {
    let key = |v: f64| {
        let bits = v.to_bits() as i64;
        if bits < 0 { i64::MIN - bits } else { bits }
    };
    key(a) - key(b)
}

fn cases(name: &str) -> Vec<(f64, f64)> {
    let path = format!("{}/tests/data/ulp/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (x, y) = l.split_once(' ').unwrap();
            let bits = |s: &str| f64::from_bits(u64::from_str_radix(s, 16).unwrap());
            (bits(x), bits(y))
        })
        .collect()
}

/// "n arguments: k exact, j off by 1 ulp, max |error| u ulp" for `f` over the cases.
fn table(name: &str, f: impl Fn(f64) -> f64) -> String {
    let cases = cases(name);
    let errors: Vec<i64> = cases.iter().map(|(x, y)| ulps(f(*x), *y).abs()).collect();
    let exact = errors.iter().filter(|e| **e == 0).count();
    let one = errors.iter().filter(|e| **e == 1).count();
    let max = errors.iter().max().unwrap();
    format!("{} arguments: {exact} correctly rounded, {one} off by 1 ulp, max {max} ulp", cases.len())
}

#[test]
fn exp_and_ln_are_within_one_ulp() {
    let report = format!(
        "exp  jitfit: {}\nexp  std:    {}\nln   jitfit: {}\nln   std:    {}\n",
        table("exp", math::exp),
        table("exp", f64::exp),
        table("ln", math::ln),
        table("ln", f64::ln),
    );
    // jitfit's rows are the promise (≤ 1 ulp); std's depend on the machine's libm, so only
    // jitfit's are compared exactly.
    let ours: String = report.lines().filter(|l| l.contains("jitfit")).map(|l| format!("{l}\n")).collect();
    println!("{report}");
    expect_test::expect_file!["snapshots/math_ulp.txt"].assert_eq(&ours);
    for line in ours.lines() {
        assert!(line.ends_with("max 0 ulp") || line.ends_with("max 1 ulp"), "{line}");
    }
}
