//! The intent router's example vectors, kept on disk between processes.
//!
//! Building a router embeds every tuning example with the model: about a second of CPU in a release build and tens
//! of seconds in a debug one, paid again by every process that starts an orchestrator (`switchboard up`, each test
//! binary, the benchmarks). The vectors depend only on the model and the example texts, so they are written once to
//! `<cache dir>/intent-router/` and read back by the next process.
//!
//! A cached file is used only when it is exactly what this process would compute:
//! - its name and header carry a SHA-256 of the model's name, the vector length and every example text, so other
//!   examples or another model never match;
//! - it holds the vectors of two probe sentences (of different lengths, so one is padded), which are embedded again
//!   on load and must agree to 1e-4: new weights, a new tokenizer or a change to the encoder's code make the file
//!   stale, and it is computed and written again;
//! - its size must be exact (a truncated or foreign file is ignored).
//!
//! Files are written to a temporary name and renamed, so a process never reads another's half-written file. A cache
//! that cannot be read or written (a read-only file system in a container) only costs the embedding, as without
//! it; nothing fails.

use std::io::Write;
use std::path::{Path, PathBuf};

use switchboard_vectors::Embedder;

use super::router::RouterError;

/// The environment variable naming the cache directory; without it, `$XDG_CACHE_HOME/switchboard`, then
/// `$HOME/.cache/switchboard` (where the embedding model is fetched to as well).
pub const CACHE_DIR_ENV: &str = "SWITCHBOARD_CACHE_DIR";

/// The first bytes of a cache file (its format's version).
const MAGIC: &[u8; 8] = b"SBIRV1\0\0";

/// Embedded together when a file is written and again when it is read: the model must still give their vectors.
const PROBES: [&str; 2] = [
    "Which invoices are overdue?",
    "Ünïcödé, punctuation… and a longer sentence: is the shorter probe padded and masked the same way as before?",
];

/// Largest difference, in any component, between a probe's stored and fresh vectors.
const PROBE_TOLERANCE: f32 = 1e-4;

/// The cache directory: `SWITCHBOARD_CACHE_DIR`, else `$XDG_CACHE_HOME/switchboard`, else
/// `$HOME/.cache/switchboard`; `None` when none of them is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var(CACHE_DIR_ENV)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("switchboard")))
        .or_else(|| var("HOME").map(|h| h.join(".cache/switchboard")))
}

/// The meaning vectors of `texts` from `embed` (which embeds them in the router's batches), through the cache in
/// `dir` when there is one.
pub(crate) fn meanings(
    embedder: &dyn Embedder,
    texts: &[&str],
    dir: Option<&Path>,
    embed: impl FnOnce() -> Result<Vec<Vec<f32>>, RouterError>,
) -> Result<Vec<Vec<f32>>, RouterError> {
    let Some(dir) = dir else { return embed() };
    let key = key(embedder, texts);
    let path = dir.join("intent-router").join(format!("{}.vectors", hex::encode(&key[..16])));
    let probes = embedder.embed_batch(&PROBES)?;
    match read(&path, &key, embedder.dimension(), texts.len(), &probes) {
        Ok(vectors) => {
            tracing::debug!(path = %path.display(), "intent router examples read from the cache");
            return Ok(vectors);
        }
        Err(why) => tracing::debug!(path = %path.display(), %why, "intent router examples not cached; embedding them"),
    }
    let vectors = embed()?;
    if let Err(error) = write(&path, &key, embedder.dimension(), &probes, &vectors) {
        tracing::debug!(path = %path.display(), %error, "could not cache the intent router's examples");
    }
    Ok(vectors)
}

/// SHA-256 of the model's name, the vector length and every text (each with its length, so no two lists collide).
fn key(embedder: &dyn Embedder, texts: &[&str]) -> [u8; 32] {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [embedder.model().as_bytes(), &(embedder.dimension() as u64).to_le_bytes()] {
        digest.update(&(part.len() as u64).to_le_bytes());
        digest.update(part);
    }
    for text in texts {
        digest.update(&(text.len() as u64).to_le_bytes());
        digest.update(text.as_bytes());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.finish().as_ref());
    key
}

fn header(key: &[u8; 32], dimension: usize, count: usize) -> Vec<u8> {
    let mut header = Vec::with_capacity(56);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(key);
    header.extend_from_slice(&(dimension as u64).to_le_bytes());
    header.extend_from_slice(&(count as u64).to_le_bytes());
    header
}

/// The cached vectors at `path`, or why there are none usable.
fn read(
    path: &Path,
    key: &[u8; 32],
    dimension: usize,
    count: usize,
    probes: &[Vec<f32>],
) -> Result<Vec<Vec<f32>>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let header = header(key, dimension, count);
    let body = bytes.strip_prefix(header.as_slice()).ok_or("another format, model or set of examples")?;
    if body.len() != (PROBES.len() + count) * dimension * 4 {
        return Err(format!("{} bytes of vectors, not {}", body.len(), (PROBES.len() + count) * dimension * 4));
    }
    let mut vectors: Vec<Vec<f32>> = body
        .chunks_exact(dimension * 4)
        .map(|v| v.chunks_exact(4).map(|f| f32::from_le_bytes([f[0], f[1], f[2], f[3]])).collect())
        .collect();
    let examples = vectors.split_off(PROBES.len());
    for (stored, fresh) in vectors.iter().zip(probes) {
        // Written so that a NaN counts as a difference.
        let same = fresh.len() == dimension && stored.iter().zip(fresh).all(|(a, b)| (a - b).abs() <= PROBE_TOLERANCE);
        if !same {
            return Err("the model embeds the probe sentences differently now".into());
        }
    }
    Ok(examples)
}

fn write(
    path: &Path,
    key: &[u8; 32],
    dimension: usize,
    probes: &[Vec<f32>],
    vectors: &[Vec<f32>],
) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| std::io::Error::other("no directory"))?;
    std::fs::create_dir_all(dir)?;
    let mut bytes = header(key, dimension, vectors.len());
    for vector in probes.iter().chain(vectors) {
        if vector.len() != dimension {
            return Err(std::io::Error::other(format!("a vector of {} values, not {dimension}", vector.len())));
        }
        bytes.extend(vector.iter().flat_map(|f| f.to_le_bytes()));
    }
    let temporary = dir.join(format!(".{}.{}.tmp", std::process::id(), uuid::Uuid::now_v7().simple()));
    let written = std::fs::File::create(&temporary).and_then(|mut file| file.write_all(&bytes));
    let renamed = written.and_then(|()| std::fs::rename(&temporary, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    renamed
}
