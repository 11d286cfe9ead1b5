//! The data contract as one table (`tests/contract/cases.txt`): every case the data contract
//! of `src/bin/jitfit/columns.rs` and the data readers decide — files, a command, and what
//! jitfit said and did — compared whole with `tests/snapshots/data_contract.txt`.

use crate::support::TempDir;
use std::io::Write;
use std::process::{Command, Stdio};

/// A case file's parts: files to write, commands to run (in order).
enum Item {
    Title(String),
    File(String, String),
    Run(Vec<String>),
}

fn parse_cases(text: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut file: Option<(String, String)> = None;
    for line in text.lines() {
        let starts_item = line.starts_with("## ") || line.starts_with("> ") || line.starts_with("$ ");
        if starts_item && let Some((name, body)) = file.take() {
            items.push(Item::File(name, body));
        }
        if let Some(title) = line.strip_prefix("## ") {
            items.push(Item::Title(title.to_owned()));
        } else if let Some(name) = line.strip_prefix("> ") {
            file = Some((name.to_owned(), String::new()));
        } else if let Some(command) = line.strip_prefix("$ ") {
            items.push(Item::Run(split_words(command)));
        } else if let Some((_, body)) = &mut file {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((name, body)) = file {
        items.push(Item::File(name, body));
    }
    items
}

/// Words as a shell splits them, with single quotes only.
fn split_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '\'' => (quoted, any) = (!quoted, true),
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => (word, any) = (word + &c.to_string(), true),
        }
    }
    if any {
        words.push(word);
    }
    words
}

#[test]
fn the_data_contract_table() {
    let root = env!("CARGO_MANIFEST_DIR");
    let cases = std::fs::read_to_string(format!("{root}/tests/contract/cases.txt")).unwrap();
    let dir = TempDir::new("contract");
    let cache = TempDir::new("contract-cache");
    let run = |args: &[String], stdin: Option<&str>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jitfit"))
            .args(args)
            .current_dir(dir.path())
            .env("JITFIT_CACHE_DIR", cache.path())
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(name) = stdin {
            let text = std::fs::read(dir.path().join(name)).unwrap();
            child.stdin.take().unwrap().write_all(&text).unwrap();
        }
        child.wait_with_output().unwrap()
    };
    let mut transcript = String::new();
    for item in parse_cases(&cases) {
        match item {
            Item::Title(title) => transcript += &format!("\n## {title}\n"),
            Item::File(name, body) => std::fs::write(dir.path().join(name), body).unwrap(),
            Item::Run(words) => {
                let stdin = words.iter().position(|w| w == "<").map(|k| words[k + 1].clone());
                let args: Vec<String> = match words.iter().position(|w| w == "<") {
                    Some(k) => [&words[..k], &words[k + 2..]].concat(),
                    None => words.clone(),
                };
                let out = run(&args, stdin.as_deref());
                let stdout = String::from_utf8_lossy(&out.stdout);
                let quote = |w: &String| {
                    if w.is_empty() || w.contains([' ', '*', '(', '|', ';', '^']) {
                        format!("'{w}'")
                    } else {
                        w.clone()
                    }
                };
                transcript += &format!("$ jitfit {}\n", words.iter().map(quote).collect::<Vec<_>>().join(" "));
                if args[0] == "batch" {
                    // The ids and statuses (not the numbers: those are the solver's tests').
                    for line in stdout.lines() {
                        let mut fields = csv_fields(line);
                        fields.truncate(3);
                        transcript += &format!("    {}\n", fields.join(" | "));
                    }
                } else {
                    let data =
                        stdout.lines().skip_while(|l| *l != "[[Data]]").take_while(|l| *l != "[[Fit Statistics]]");
                    for line in data {
                        transcript += &format!("{line}\n");
                    }
                }
                // A batch's summary ends with its speed, which is not the contract's.
                for line in String::from_utf8_lossy(&out.stderr).lines() {
                    let line = match line.find(" fits/s") {
                        Some(end) => {
                            let start = line[..end].rfind(' ').map_or(0, |k| k + 1);
                            format!("{}N{}", &line[..start], &line[end..])
                        }
                        None => line.to_owned(),
                    };
                    transcript += &format!("{line}\n");
                }
                if args[0] == "fit" && out.status.code() == Some(0) {
                    let json_args: Vec<String> = args.iter().cloned().chain(["--json".to_owned()]).collect();
                    let json: serde_json::Value =
                        serde_json::from_slice(&run(&json_args, stdin.as_deref()).stdout).unwrap();
                    transcript +=
                        &format!("json data.sigma {} notes {}\n", json["data"]["sigma"], json["data"]["notes"]);
                }
                transcript += &format!("[exit {:?}]\n", out.status.code());
            }
        }
    }
    expect_test::expect_file!["snapshots/data_contract.txt"]
        .assert_eq(&transcript.replace(dir.path().to_str().unwrap(), "$DIR"));
}

/// A CSV line's fields (a quoted field may hold a comma).
fn csv_fields(line: &str) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes());
    reader.records().next().and_then(Result::ok).map(|r| r.iter().map(str::to_owned).collect()).unwrap_or_default()
}
