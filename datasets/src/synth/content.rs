//! File content: deterministic bytes from a seed, with a chosen compressibility.
//!
//! A file is a sequence of 256-byte chunks, each either incompressible (random bytes) or
//! word-like text drawn from a fixed 512-word vocabulary with a skewed word frequency. The share
//! of random chunks sets how well the file compresses: gzip -6 turns the text alone into
//! [`TEXT_GZIP_RATIO`] of its size and random bytes into slightly more than their size, so a
//! share of random chunks gives the ratio in [`GZIP_CURVE`] (measured; not linear, as random
//! literals lengthen the Huffman codes of the text around them), which
//! [`Texture::for_gzip_ratio`] inverts; the unit tests hold the curve to ±0.01 and the
//! inverse to ±0.02. Chunks are placed by error diffusion, so every part of a file compresses alike and
//! the share holds even in small files. The same seed, texture and size always give the same
//! bytes; different seeds give unrelated bytes (no two files share content by accident).

use std::sync::OnceLock;

use crate::rng::Rng;

/// gzip -6 output / input (flate2, 4 MiB, seed 2) by share of random chunks in per mille,
/// every 50: measured, and checked by the unit tests.
pub const GZIP_CURVE: [f64; 21] = [
    0.2721, 0.3263, 0.3711, 0.4134, 0.4544, 0.4940, 0.5326, 0.5703, 0.6077, 0.6445, 0.6808, 0.7166,
    0.7523, 0.7878, 0.8226, 0.8576, 0.8916, 0.9253, 0.9575, 0.9849, 1.0002,
];

const CHUNK: usize = 256;
const VOCABULARY: usize = 512;

/// How compressible generated content is: the share of random bytes, per mille.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Texture {
    pub random_permille: u16,
}

impl Texture {
    /// Already-compressed content (gzip, xz, zstd payloads): all random.
    pub const COMPRESSED: Texture = Texture {
        random_permille: 1000,
    };

    /// The texture gzip -6 compresses to about `ratio` (clamped to what text and random bytes
    /// can reach), by linear interpolation in [`GZIP_CURVE`].
    pub fn for_gzip_ratio(ratio: f64) -> Texture {
        let step = 1000.0 / (GZIP_CURVE.len() - 1) as f64;
        let permille = match GZIP_CURVE.windows(2).position(|w| ratio < w[1]) {
            _ if ratio <= GZIP_CURVE[0] => 0.0,
            Some(i) => {
                let (lo, hi) = (GZIP_CURVE[i], GZIP_CURVE[i + 1]);
                step * (i as f64 + (ratio - lo) / (hi - lo))
            }
            None => 1000.0,
        };
        Texture {
            random_permille: permille.round() as u16,
        }
    }
}

/// `size` bytes of content for `seed`.
pub fn generate(seed: u64, texture: Texture, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    let mut rng = Rng::new(seed);
    let words = vocabulary();
    let random_share = u32::from(texture.random_permille.min(1000));
    // Error diffusion: a chunk is random when the running share falls behind the target.
    let mut credit: u32 = 500;
    while out.len() < size {
        let n = CHUNK.min(size - out.len());
        credit += random_share;
        if credit >= 1000 {
            credit -= 1000;
            random_chunk(&mut rng, n, &mut out);
        } else {
            text_chunk(&mut rng, words, n, &mut out);
        }
    }
    out
}

fn random_chunk(rng: &mut Rng, n: usize, out: &mut Vec<u8>) {
    let end = out.len() + n;
    while out.len() < end {
        let r = rng.next_u64().to_le_bytes();
        let take = (end - out.len()).min(8);
        out.extend_from_slice(&r[..take]);
    }
}

/// Words until `n` bytes; the last word is cut to fit.
fn text_chunk(rng: &mut Rng, words: &[Vec<u8>], n: usize, out: &mut Vec<u8>) {
    let end = out.len() + n;
    while out.len() < end {
        let r = rng.next_u64();
        // The smaller of two uniform picks: frequent words are frequent, as in real text.
        let a = (r & 0x1FF) as usize;
        let b = ((r >> 9) & 0x1FF) as usize;
        let word = &words[a.min(b)];
        let take = (end - out.len()).min(word.len());
        out.extend_from_slice(&word[..take]);
        // A separator from the high bits: mostly spaces, some newlines, NULs and punctuation
        // (string tables in binaries and text files alike).
        if out.len() < end {
            out.push(match (r >> 60) as u8 {
                0..=9 => b' ',
                10 | 11 => b'\n',
                12 | 13 => 0,
                14 => b'.',
                _ => b'_',
            });
        }
    }
}

/// The fixed vocabulary: words of 2 to 5 syllables from a fixed syllable table.
fn vocabulary() -> &'static [Vec<u8>] {
    static WORDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    WORDS.get_or_init(|| {
        const SYLLABLES: [&str; 32] = [
            "ba", "con", "de", "fi", "gu", "ha", "in", "jo", "ke", "lib", "ma", "ne", "or", "pre",
            "qu", "ra", "sys", "te", "un", "ver", "wa", "xt", "yo", "ze", "_t", "64", "gl", "ibc",
            "str", "fn", "ptr", "ex",
        ];
        let mut rng = Rng::new(0x5EED_0F57_4E5E);
        (0..VOCABULARY)
            .map(|_| {
                let syllables = 2 + rng.below(4);
                (0..syllables)
                    .flat_map(|_| SYLLABLES[rng.below(SYLLABLES.len())].bytes())
                    .collect()
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip6_ratio(data: &[u8]) -> f64 {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        z.write_all(data).unwrap();
        z.finish().unwrap().len() as f64 / data.len() as f64
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let t = Texture::for_gzip_ratio(0.5);
        let a = generate(7, t, 100_000);
        assert_eq!(a.len(), 100_000);
        assert_eq!(a, generate(7, t, 100_000));
        let b = generate(8, t, 100_000);
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(same < 100_000 / 10, "{same} equal bytes");
        assert_eq!(generate(7, t, 0), Vec::<u8>::new());
        assert_eq!(generate(7, t, 10).len(), 10);
    }

    #[test]
    fn gzip_ratio_follows_the_texture() {
        let size = 4 << 20;
        for (i, want) in GZIP_CURVE.iter().enumerate().step_by(4) {
            let texture = Texture {
                random_permille: (i * 50) as u16,
            };
            let got = gzip6_ratio(&generate(2, texture, size));
            assert!(
                (got - want).abs() < 0.01,
                "{texture:?}: {got:.4}, curve {want}"
            );
        }
        for want in [0.35, 0.45, 0.52, 0.7, 0.9] {
            let got = gzip6_ratio(&generate(5, Texture::for_gzip_ratio(want), size));
            assert!(
                (got - want).abs() < 0.02,
                "asked {want}, gzip -6 gives {got:.3}"
            );
        }
        let random = gzip6_ratio(&generate(3, Texture::COMPRESSED, size));
        assert!(random > 0.99, "random content compresses to {random:.3}");
    }
}
