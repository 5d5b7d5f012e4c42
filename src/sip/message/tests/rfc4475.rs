//! RFC 4475 torture tests: every message in `tests/fixtures/rfc4475` against `EXPECTED.tsv`.
//!
//! `parse`: the message parses and parse → serialise → parse → serialise is byte-identical.
//! `reject`: a request fails to parse with the status to answer (505 for an unknown version,
//! 400 otherwise) or parses and fails `check_request` (a semantic fault, answered 400); a response
//! fails to parse or fails `check_response` (it is dropped). TC_TEST_I only has to not panic.
use super::super::*;
use super::{fixture, round_trip};

fn verdict_parse(buf: &[u8]) -> Result<String, String> {
    let bytes = round_trip(buf)?;
    Ok(format!("parsed, round trip ok ({} bytes)", bytes.len()))
}

fn verdict_reject(file: &str, buf: &[u8]) -> Result<String, String> {
    let want = if file == "TC_BADVERS_V.dat" { 505 } else { 400 };
    match Message::parse(buf) {
        Err(e) if e.status() == Some(want) => {
            let answer = e.response().map_or("no answer possible".to_owned(), |r| format!("answer {} {}", r.status, r.reason));
            Ok(format!("parse error: {e}; {answer}"))
        }
        Err(e) if e.status().is_none() && buf.starts_with(b"SIP/") => Ok(format!("response dropped: {e}")),
        Err(e) => Err(format!("parse error {e} with status {:?}, wanted {want}", e.status())),
        Ok(Message::Request(req)) => match check_request(&req) {
            Err(f) if f.status() == want => Ok(format!("check_request: {} {}", f.status(), f.reason())),
            Err(f) => Err(format!("check_request gave {}", f.status())),
            Ok(()) => Err("accepted".into()),
        },
        Ok(Message::Response(resp)) => match check_response(&resp) {
            Err(f) => Ok(format!("response dropped: {f}")),
            Ok(()) => Err("response accepted".into()),
        },
    }
}

#[test]
fn rfc4475_torture_messages() {
    let expected = String::from_utf8(fixture("rfc4475/EXPECTED.tsv")).unwrap();
    let mut rows = Vec::new();
    let mut failed = 0;
    let mut seen = 0;
    for line in expected.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, section, verdict) = (cols[0], cols[1], cols[2]);
        let buf = fixture(&format!("rfc4475/{file}"));
        seen += 1;
        let result = match (file, verdict) {
            ("TC_TEST_I.dat", _) => {
                let r = Message::parse(&buf);
                if let Ok(Message::Request(req)) = &r {
                    let _ = check_request(req);
                }
                Ok(format!("no panic ({})", r.map_or_else(|e| e.to_string(), |_| "parsed".into())))
            }
            (_, "parse") => verdict_parse(&buf),
            (_, "reject") => verdict_reject(file, &buf),
            (_, other) => Err(format!("unknown verdict {other}")),
        };
        if result.is_err() {
            failed += 1;
        }
        rows.push((file.to_owned(), section.to_owned(), verdict.to_owned(), result));
    }
    let dir = format!("{}/tests/fixtures/rfc4475", env!("CARGO_MANIFEST_DIR"));
    let files = std::fs::read_dir(&dir).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "dat")).count();
    assert_eq!(files, seen, "every .dat file has a row in EXPECTED.tsv");
    let mut table = String::new();
    for (file, section, verdict, result) in &rows {
        let (mark, text) = match result {
            Ok(t) => ("ok  ", t.as_str()),
            Err(t) => ("FAIL", t.as_str()),
        };
        let text: String = text.chars().take(150).collect();
        table.push_str(&format!("{mark} {file:<22} {section:<9} {verdict:<7} {text}\n"));
    }
    println!("{table}");
    assert_eq!(failed, 0, "{failed} of {seen} RFC 4475 messages failed:\n{table}");
}

/// Well-formed messages pass the UAS checks, except the §3.3 ones RFC 4475 says to answer 400.
#[test]
fn well_formed_messages_pass_the_checks() {
    const REFUSED: [(&str, &str); 3] = [
        ("TC_INSUF_I.dat", "Bad Request (missing To)"),
        ("TC_MULTI01_I.dat", "Bad Request (multiple From)"),
        ("TC_MCL01_I.dat", "Bad Request (multiple Content-Length)"),
    ];
    let expected = String::from_utf8(fixture("rfc4475/EXPECTED.tsv")).unwrap();
    for line in expected.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 || cols[2] != "parse" {
            continue;
        }
        let buf = fixture(&format!("rfc4475/{}", cols[0]));
        let got = match Message::parse(&buf).unwrap() {
            Message::Request(req) => check_request(&req).map_err(|f| f.reason()),
            Message::Response(resp) => check_response(&resp).map_err(|f| f.reason()),
        };
        let want = REFUSED.iter().find(|(f, _)| *f == cols[0]).map_or(Ok(()), |(_, r)| Err(r.to_string()));
        assert_eq!(got, want, "{}", cols[0]);
    }
}

/// Typed values read from the torture messages write back to text that parses to the same value.
#[test]
fn typed_values_display_and_parse_back() {
    let dir = format!("{}/tests/fixtures/rfc4475", env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "dat") {
            continue;
        }
        let Ok(msg) = Message::parse(&std::fs::read(&path).unwrap()) else { continue };
        let h = msg.headers();
        for via in h.vias().unwrap_or_default() {
            assert_eq!(Via::parse(&via.to_string()).as_ref(), Ok(&via), "{path:?}");
            checked += 1;
        }
        let mut addrs: Vec<(HeaderName, NameAddr)> = Vec::new();
        addrs.extend(h.from_addr().ok().map(|a| (HeaderName::From, a)));
        addrs.extend(h.to_addr().ok().map(|a| (HeaderName::To, a)));
        if let Ok(ContactList::Addrs(list)) = h.contacts() {
            addrs.extend(list.into_iter().map(|a| (HeaderName::Contact, a)));
        }
        addrs.extend(h.routes().unwrap_or_default().into_iter().map(|a| (HeaderName::Route, a)));
        for (name, a) in addrs {
            let text = a.to_string();
            assert_eq!(NameAddr::parse(&text, name).as_ref(), Ok(&a), "{path:?}: {text}");
            assert!(a.uri.equivalent(&Uri::parse(&a.uri.to_string()).unwrap()), "{path:?}: {text}");
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} values checked");
}
