//! Hostile inputs (issue 14): models built to take minutes and gigabytes, random bytes as data
//! files, random lines into the REPL. Each must be answered — compiled, read, or refused with
//! an error — without a panic, a hang or unbounded memory. Not timed: a regression shows as a
//! test that runs for minutes or is killed for memory (the curve is `benches/model_size.rs`).
//! Hostile cache files are in `tests/cache.rs`, hostile checkpoints in `tests/checkpoint.rs`.

use crate::support::size;
use jitfit::data::{Delimiter, ReadOptions, Table, read_text, read_text_parallel};
use jitfit::{Model, ModelError};
use proptest::prelude::*;
use std::path::Path;

fn build(source: &str) -> Result<usize, ModelError> {
    Ok(Model::parse(source)?.compile()?.kernel().insts.len())
}

/// The shapes the attack used: quadratic derivatives, long chains, many parameters, many
/// helpers (full size under JITFIT_SLOW_TESTS).
#[test]
fn hostile_models_are_compiled_or_refused() {
    // ∂/∂p_k of a product of n parameters holds n − 1 factors: n² nodes. 3000 parameters would
    // be 4.5·10^6 nodes; refused as too large (it took minutes and gigabytes).
    let product: Vec<String> = (0..3000).map(|k| format!("p{k}")).collect();
    let e = build(&(product.join("*") + "*x")).unwrap_err();
    assert!(matches!(e, ModelError::TooLarge(_)), "{e}");
    assert!(e.to_string().starts_with("model too large: "), "{e}");
    // a*a*…*a*x: the cache key's text was quadratic (100 KiB: > 6 GB), egg ran for seconds.
    let chain = vec!["a"; size(16_000, 50_000)].join("*") + "*x";
    let model = Model::parse(&chain).unwrap();
    assert!(model.simplify_report().skipped);
    assert!(model.canonical_text().len() < 5 * chain.len());
    assert!(build(&chain).is_ok());
    // Σ p_i·x with thousands of parameters: Cranelift's allocator was quadratic in them.
    let sum: Vec<String> = (0..size(2000, 10_000)).map(|k| format!("p{k}*x")).collect();
    assert!(build(&sum.join(" + ")).is_ok());
    // Helpers: many unused is an error, deep sharing is compiled (its text is capped).
    let helpers: Vec<String> = (0..10_000).map(|k| format!("h{k} = a*x")).collect();
    assert!(build(&(helpers.join("; ") + "; h0")).is_err());
    let shared: Vec<String> = (1..60).map(|k| format!("g{k} = g{}*g{} + b", k - 1, k - 1)).collect();
    let shared = format!("g0 = a*x; {}; g59", shared.join("; "));
    let model = Model::parse(&shared).unwrap();
    assert!(model.value_text().len() < 10_000);
    // Nesting beyond the guard, and text past the size limit.
    assert!(build(&("exp(".repeat(2000) + "a*x" + &")".repeat(2000))).is_err());
    assert!(build(&("a*x + ".repeat(50_000) + "b")).is_err());
}

/// One of the readers' separators or a random choice of the things files hold.
fn data_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b",".to_vec()),
        Just(b";".to_vec()),
        Just(b"\t".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"#".to_vec()),
        Just(b"NA".to_vec()),
        Just(b"x".to_vec()),
        Just(b"1,5".to_vec()),
        Just(b"-2.5e3".to_vec()),
        Just(b"nan".to_vec()),
        Just(b"inf".to_vec()),
        Just("€".as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 1..4),
        "[0-9.]{1,6}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..80).prop_map(|pieces| pieces.concat())
}

/// A table that mostly reads: a header or not, then rows of numbers (and now and then a
/// missing value, a blank field, a short row) with blank lines, comments, rows of empty fields,
/// every kind of line end, spaces around fields.
fn table_bytes() -> impl Strategy<Value = (Vec<u8>, Delimiter)> {
    let separator = prop_oneof![
        Just(Delimiter::Comma),
        Just(Delimiter::Semicolon),
        Just(Delimiter::Tab),
        Just(Delimiter::Whitespace)
    ];
    let field = prop_oneof![
        4 => "-?[0-9]{1,4}",
        4 => "-?[0-9]{1,3}\\.[0-9]{1,17}",
        1 => "[0-9]\\.[0-9]{1,3}e-?[0-9]{1,2}",
        1 => Just("NA".to_owned()),
        1 => Just(String::new()),
    ];
    let end = prop_oneof![4 => Just("\n"), 1 => Just("\r\n"), 1 => Just("\r")];
    let line = (prop::collection::vec(field, 3..=3), end, 0..20u8, any::<bool>());
    (separator, any::<bool>(), prop::collection::vec(line, 1..40)).prop_map(|(separator, header, lines)| {
        let sep = match separator {
            Delimiter::Comma => ",",
            Delimiter::Semicolon => ";",
            Delimiter::Tab => "\t",
            _ => " ",
        };
        let mut text = if header { format!("a{sep}b{sep}c\n") } else { String::new() };
        for (fields, end, kind, padded) in lines {
            let pad = if padded { " " } else { "" };
            match kind {
                0 => text.push_str(end),
                1 => text.push_str(&format!("# a comment{sep}1{end}")),
                2 => text.push_str(&format!("{pad}{sep}{pad}{sep}{end}")),
                3 if fields[0].len() % 4 == 0 => text.push_str(&format!("{}{end}", fields[..2].join(sep))),
                _ => {
                    let fields: Vec<String> = fields.iter().map(|f| format!("{pad}{f}{pad}")).collect();
                    text.push_str(&format!("{}{end}", fields.join(sep)));
                }
            }
        }
        (text.into_bytes(), separator)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Tables that read (most of these do), in memory whole or in pieces, parsed in place:
    /// the same table or the same first error as the row reader's.
    #[test]
    fn tables_read_in_place_are_the_row_readers_tables((bytes, delimiter) in table_bytes(), given in any::<bool>()) {
        let options = ReadOptions { delimiter: given.then_some(delimiter), ..ReadOptions::default() };
        let name = if delimiter == Delimiter::Comma { "d.csv" } else { "d.txt" };
        let read = read_text(bytes.as_slice(), Path::new(name), &options);
        for pieces in [1, 2, 5] {
            let parallel = read_text_parallel(&bytes, Path::new(name), &options, pieces);
            prop_assert_eq!(summary(&parallel), summary(&read), "{} pieces", pieces);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Any bytes, any options: a table or an error, never a panic; a table is well formed.
    #[test]
    fn no_bytes_make_the_data_reader_panic(
        bytes in data_bytes(),
        delimiter in prop::option::of(prop_oneof![
            Just(Delimiter::Comma), Just(Delimiter::Semicolon), Just(Delimiter::Tab),
            Just(Delimiter::Whitespace), Just(Delimiter::Other(b'|'))]),
        decimal_comma in any::<bool>(),
        labels in any::<bool>(),
        name in prop_oneof![Just("d.csv"), Just("d.txt"), Just("d.tsv"), Just("standard input")],
    ) {
        let text_columns = if labels { vec!["x".to_owned()] } else { Vec::new() };
        let options = ReadOptions { delimiter, decimal_comma, text_columns };
        let read = read_text(bytes.as_slice(), Path::new(name), &options);
        // Read in memory, whole or cut into pieces read in parallel (as files are): the same
        // table, or the same first error. Without `"` the pieces are parsed in place, not by
        // the row reader: the same again.
        let unquoted: Vec<u8> = bytes.iter().copied().filter(|b| *b != b'"').collect();
        let read_unquoted = read_text(unquoted.as_slice(), Path::new(name), &options);
        for pieces in [1, 2, 3, 7] {
            let parallel = read_text_parallel(&bytes, Path::new(name), &options, pieces);
            prop_assert_eq!(summary(&parallel), summary(&read), "{} pieces", pieces);
            let parallel = read_text_parallel(&unquoted, Path::new(name), &options, pieces);
            prop_assert_eq!(summary(&parallel), summary(&read_unquoted), "{} pieces, no quotes", pieces);
        }
        if let Ok(table) = read {
            prop_assert_eq!(table.names.len(), table.columns.len());
            prop_assert!(table.n_rows() > 0);
            prop_assert!(table.columns.iter().all(|c| c.len() == table.n_rows()));
            let mut names = table.names.clone();
            names.sort();
            names.dedup();
            prop_assert_eq!(names.len(), table.names.len());
        }
    }
}

/// A table or an error as comparable text (NaN and -0 by their bits).
fn summary(read: &Result<Table, jitfit::data::DataError>) -> String {
    match read {
        Err(e) => format!("error: {e}"),
        Ok(t) => {
            let columns: Vec<Vec<u64>> = t.columns.iter().map(|c| c.iter().map(|v| v.to_bits()).collect()).collect();
            format!("{:?} {:?} {:?} {:?}", t.names, columns, t.labels, t.notes)
        }
    }
}

/// Random lines into the REPL (commands with junk arguments, invalid UTF-8, control bytes):
/// it answers each and ends with status 0 or 1, never a panic.
#[test]
fn no_lines_make_the_repl_panic() {
    let words: &[&[u8]] = &[
        b"load",
        b"model",
        b"vars",
        b"y",
        b"sigma",
        b"p0",
        b"bounds",
        b"fix",
        b"loss",
        b"method",
        b"backend",
        b"fit",
        b"refit",
        b"report",
        b"json",
        b"plot",
        b"eval",
        b"explain",
        b"show",
        b"cache",
        b"help",
        b"a*x+b",
        b"x,y",
        b"a=1",
        b"b=0:inf",
        b"clear",
        b"examples/data/decay.csv",
        b"soft_l1",
        b"-1",
        b"1e999",
        b"nan",
        b"at",
        b"x=1",
        b"\xff\xfe",
        "€".as_bytes(),
        b"\x00",
        b"\t",
        b"=",
        b":",
        b",",
        b"(",
        b"quit",
        b"/tmp",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut script = b"load examples/data/decay.csv\nmodel a*exp(-b*time) + c\ny signal\nsigma err\n".to_vec();
    for _ in 0..400 {
        for k in 0..1 + next(4) {
            let word = words[next(words.len())];
            // `quit` only as the last line.
            if word != b"quit" {
                if k > 0 {
                    script.push(b' ');
                }
                script.extend_from_slice(word);
            }
        }
        script.push(b'\n');
    }
    let cache = crate::support::TempDir::new("hostile-repl");
    let out = crate::support::run_repl(&script, &cache);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(matches!(out.status.code(), Some(0 | 1)), "{:?}\n{stderr}", out.status);
}
