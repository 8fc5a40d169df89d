//! Our version order against real rpm's: thousands of generated pairs (digits with leading
//! zeros, letters, separators, `~`, `^`, epochs, releases) compared by `rpm.vercmp()` in rpm's
//! embedded Lua (rpm 4.18, installed by scripts/test.sh) and by [`rpmvercmp`] /
//! [`compare_evr`]. Pairs are made by mutating one string, so most share a long prefix and the
//! comparison reaches the interesting segments.

use std::cmp::Ordering;
use std::io::Write;
use std::process::Command;

use rechunk_changelog::{compare_evr, rpmvercmp, Evr};

/// A small deterministic generator (64-bit LCG), so a failure is reproducible.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const PIECES: &[&str] = &[
    "0", "1", "2", "9", "10", "01", "007", "100", "a", "b", "z", "A", "rc", "git", "fc40", "p",
    ".", ".", ".", "_", "+", "~", "^", "~rc1", "^post",
];

/// A version or release string: 1 to 6 pieces, no `-` or `:`.
fn piece_string(rng: &mut Lcg) -> String {
    let n = 1 + rng.next() % 6;
    (0..n).map(|_| rng.pick(PIECES)).collect()
}

/// A variation of `s`: a piece inserted, replaced, appended or removed.
fn mutate(rng: &mut Lcg, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let at = (rng.next() as usize) % (chars.len() + 1);
    let piece: Vec<char> = rng.pick(PIECES).chars().collect();
    match rng.next() % 4 {
        0 => {
            chars.splice(at..at, piece);
        }
        1 if at < chars.len() => {
            chars.splice(at..at + 1, piece);
        }
        2 if !chars.is_empty() && at < chars.len() => {
            chars.remove(at);
        }
        _ => chars.extend(piece),
    }
    let out: String = chars.into_iter().collect();
    if out.is_empty() {
        "0".to_string()
    } else {
        out
    }
}

fn evr_string(rng: &mut Lcg, base: Option<&str>) -> String {
    let version = match base {
        Some(b) => mutate(rng, b),
        None => piece_string(rng),
    };
    let epoch = match rng.next() % 5 {
        0 => "1:".to_string(),
        1 => "0:".to_string(),
        _ => String::new(),
    };
    let release = match rng.next() % 3 {
        0 => String::new(),
        _ => format!("-{}", piece_string(rng)),
    };
    format!("{epoch}{version}{release}")
}

/// `rpm.vercmp(a, b)` for every pair, in one rpm run.
fn rpm_answers(pairs: &[(String, String)]) -> Vec<Ordering> {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    for (a, b) in pairs {
        writeln!(file, "{a}\t{b}").expect("write pairs");
    }
    file.flush().expect("flush pairs");
    let script = format!(
        "%{{lua: for l in io.lines(\"{}\") do local a, b = l:match(\"^(.-)\\t(.*)$\"); \
         print(rpm.vercmp(a, b) .. \"\\n\") end}}",
        file.path().display()
    );
    let out = Command::new("rpm")
        .args(["--eval", &script])
        .output()
        .expect("rpm is installed (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "rpm --eval failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Ordering> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match l.trim() {
            "-1" => Ordering::Less,
            "0" => Ordering::Equal,
            "1" => Ordering::Greater,
            other => panic!("rpm answered {other:?}"),
        })
        .collect();
    assert_eq!(answers.len(), pairs.len(), "one answer per pair");
    answers
}

fn disagreements(pairs: &[(String, String)], ours: impl Fn(&str, &str) -> Ordering) -> Vec<String> {
    pairs
        .iter()
        .zip(rpm_answers(pairs))
        .filter(|((a, b), want)| ours(a, b) != *want)
        .map(|((a, b), want)| format!("{a:?} vs {b:?}: rpm {want:?}, ours {:?}", ours(a, b)))
        .collect()
}

#[test]
fn rpmvercmp_agrees_with_rpm_on_generated_versions() {
    let mut rng = Lcg(42);
    let mut pairs = Vec::new();
    while pairs.len() < 3000 {
        let a = piece_string(&mut rng);
        let b = if rng.next().is_multiple_of(8) {
            piece_string(&mut rng)
        } else {
            mutate(&mut rng, &a)
        };
        pairs.push((a, b));
    }
    let orders: Vec<Ordering> = pairs.iter().map(|(a, b)| rpmvercmp(a, b)).collect();
    for kind in [Ordering::Less, Ordering::Equal, Ordering::Greater] {
        let n = orders.iter().filter(|&&o| o == kind).count();
        assert!(
            n >= 100,
            "only {n} pairs compare {kind:?}: the generator is too narrow"
        );
    }
    let wrong = disagreements(&pairs, rpmvercmp);
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        pairs.len(),
        wrong.join("\n")
    );
}

#[test]
fn evr_order_agrees_with_rpm_on_generated_evrs() {
    let mut rng = Lcg(7);
    let mut pairs = Vec::new();
    while pairs.len() < 2000 {
        let a = evr_string(&mut rng, None);
        let version = Evr::parse(&a).map(|e| e.version).unwrap_or_default();
        let b = evr_string(&mut rng, Some(&version));
        if Evr::parse(&a).is_some() && Evr::parse(&b).is_some() {
            pairs.push((a, b));
        }
    }
    let ours = |a: &str, b: &str| {
        let (Some(x), Some(y)) = (Evr::parse(a), Evr::parse(b)) else {
            unreachable!("filtered above")
        };
        compare_evr(&x, &y)
    };
    let wrong = disagreements(&pairs, ours);
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        pairs.len(),
        wrong.join("\n")
    );
}
