//! Fuzz smoke run for `make test`: the fuzz targets' own checks (`fuzz/src`, every invariant
//! listed in docs/reliability.md "Fuzzing") on every seed, then on a few thousand deterministic
//! mutations of the seeds per target (bit flips, byte edits, dictionary tokens from
//! `fuzz/dict`, duplicated ranges, splices of two seeds).
//!
//! Not coverage-guided and no substitute for the campaign (`fuzz/long-run.sh`, 10 million
//! inputs per target with libFuzzer), but it needs neither cargo-fuzz nor a C++ toolchain and
//! takes seconds, so every CI run checks that the harness and the code still agree.

#[path = "../fuzz/src/differential.rs"]
mod differential;
#[path = "../fuzz/src/haproxy.rs"]
mod haproxy;
#[path = "../fuzz/src/scanner.rs"]
mod scanner;

use std::path::Path;

use sentinel_proxy_core::resp::Mode;

/// Mutated inputs per target, after the seeds.
const MUTATIONS: usize = 20_000;
/// libFuzzer's -max_len in the campaign.
const MAX_LEN: usize = 4096;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The files of `dirs`, in the order of their names.
fn read_dirs(dirs: &[&Path]) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = dirs
        .iter()
        .flat_map(|dir| {
            std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.unwrap().path())
        })
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Tokens of a libFuzzer dictionary: `"..."` per line (optionally `name="..."`), with `\xHH`,
/// `\\` and `\"` escapes.
fn dictionary(path: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut tokens = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let (Some(a), Some(b)) = (line.find('"'), line.rfind('"')) else {
            continue;
        };
        if b <= a {
            continue;
        }
        let raw = &line.as_bytes()[a + 1..b];
        let mut out = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            match raw[i] {
                b'\\' if raw.get(i + 1) == Some(&b'x') && i + 3 < raw.len() => {
                    let hex = std::str::from_utf8(&raw[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 4;
                }
                b'\\' if i + 1 < raw.len() => {
                    out.push(raw[i + 1]);
                    i += 2;
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        tokens.push(out);
    }
    assert!(!tokens.is_empty(), "{}: no tokens", path.display());
    tokens
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, dict: &[Vec<u8>], seeds: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                input.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                input.drain(i..i + n);
            }
            4 => {
                let i = rng.below(len + 1);
                let token = &dict[rng.below(dict.len())];
                input.splice(i..i, token.iter().copied());
            }
            5 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let piece = input[i..i + n].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, piece);
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
        }
    }
    input.truncate(MAX_LEN);
}

/// The seeds of a fuzz target: `fuzz/seeds/<target>`, and for `haproxy_cfg` the chart renders
/// that the reader's own tests use (`crates/haproxy/tests/fixtures`, kept in one place).
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = root.join("fuzz/seeds").join(target);
    let fixtures = root.join("crates/haproxy/tests/fixtures");
    if target == "haproxy_cfg" {
        read_dirs(&[&own, &fixtures])
    } else {
        read_dirs(&[&own])
    }
}

/// Runs `check` on `input`; when it panics, the input is saved under `target/fuzz-smoke/` and
/// shown, so it can be replayed with `cargo fuzz run <target> <file>`.
fn run(target: &str, check: &dyn Fn(&[u8]), input: &[u8], what: &str) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(input)));
    if let Err(panic) = result {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-smoke");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{target}-crash"));
        std::fs::write(&file, input).unwrap();
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!(
            "{target}: {what} broke an invariant: {why}\ninput ({} bytes) saved as {}: {:?}",
            input.len(),
            file.display(),
            String::from_utf8_lossy(input)
        );
    }
}

/// Run `check` on every seed and on `MUTATIONS` mutations.
fn smoke(target: &str, dict: &str, check: impl Fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = seeds(target);
    let dict = dictionary(&root.join("fuzz/dict").join(dict));
    for (i, seed) in seeds.iter().enumerate() {
        run(target, &check, seed, &format!("seed {i}"));
    }
    // A fixed seed per target: a failure reproduces on every run.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64 ^ (seeds.len() as u64) << 32);
    for n in 0..MUTATIONS {
        let mut input = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &mut input, &dict, &seeds);
        run(target, &check, &input, &format!("mutation {n}"));
    }
}

#[test]
fn request_scanner() {
    smoke("request_scanner", "resp.dict", |d| {
        scanner::check(Mode::Request, d)
    });
}

#[test]
fn reply_scanner() {
    smoke("reply_scanner", "resp.dict", |d| {
        scanner::check(Mode::Reply, d)
    });
}

#[test]
fn reply_differential() {
    smoke("reply_differential", "resp.dict", differential::check);
}

#[test]
fn haproxy_cfg() {
    smoke("haproxy_cfg", "haproxy.dict", haproxy::check);
}

/// haproxy.cfg texts that byte mutations seldom reach: the seeds' own lines shuffled, bytes
/// from a config-ish alphabet, and seeds with a few lines cut short.
#[test]
fn haproxy_cfg_line_shuffles() {
    let texts: Vec<String> = seeds("haproxy_cfg")
        .iter()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let pool: Vec<&str> = texts.iter().flat_map(|t| t.lines()).collect();
    let alphabet: &[u8] = b" \t\n\r\\\"'#${}[]*-:,@/.0123456789abcdefxAUTHSENTINEL";
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..3000 {
        let text = match round % 3 {
            // Random bytes from the alphabet (and some arbitrary bytes).
            0 => {
                let n = rng.below(400);
                let bytes: Vec<u8> = (0..n)
                    .map(|_| {
                        if rng.below(10) == 0 {
                            rng.next() as u8
                        } else {
                            alphabet[rng.below(alphabet.len())]
                        }
                    })
                    .collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            // Shuffled real lines.
            1 => (0..rng.below(120))
                .map(|_| pool[rng.below(pool.len())])
                .collect::<Vec<_>>()
                .join("\n"),
            // Real configs with one to three lines cut and one byte appended.
            _ => {
                let base = &texts[rng.below(texts.len())];
                let mut lines: Vec<String> = base.lines().map(str::to_string).collect();
                for _ in 0..1 + rng.below(3) {
                    let i = rng.below(lines.len());
                    let l = &mut lines[i];
                    let mut cut = rng.below(l.len() + 1).min(l.len());
                    while !l.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    l.truncate(cut);
                    l.push(alphabet[rng.below(alphabet.len())] as char);
                }
                lines.join("\n")
            }
        };
        run(
            "haproxy_cfg",
            &haproxy::check,
            text.as_bytes(),
            &format!("line shuffle {round}"),
        );
    }
}

/// The harness itself: the mutator stays within the campaign's length bound and the dictionary
/// reader understands the escapes the dictionaries use.
#[test]
fn harness_reads_dictionaries_and_bounds_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dict = dictionary(&root.join("fuzz/dict/resp.dict"));
    assert!(dict.iter().any(|t| t == b"\r\n"));
    let seeds = vec![vec![b'x'; MAX_LEN]];
    let mut rng = Rng(1);
    for _ in 0..1000 {
        let mut input = seeds[0].clone();
        mutate(&mut rng, &mut input, &dict, &seeds);
        assert!(input.len() <= MAX_LEN);
    }
}
