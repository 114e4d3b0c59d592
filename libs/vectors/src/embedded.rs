//! The embedded index: exact search over each tenant's points, kept in memory and persisted as an append-only
//! log per collection in the data dir (`<collection>.vlog`), replayed at open. Exact search is the right tool up
//! to about 100k vectors per tenant (recall 1.0 by construction; see `make bench` for latency).
//!
//! Log records (little-endian): `1 dim:u32 distance:u8` (collection header), `2 tenant:16 id:str vector:[f32]
//! payload:str` (upsert), `3 tenant:16 id:str` (delete); `str` and arrays are u32-length-prefixed. A record cut
//! short by a crash ends the replay at the last whole one.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};
use switchboard_types::TenantId;

use crate::{
    Distance, Filter, Hit, Point, VectorError, VectorFuture, VectorStore, check_collection_name, check_dimension,
};

struct Stored {
    vector: Vec<f32>,
    payload: Map<String, Value>,
}

struct Collection {
    dimension: usize,
    distance: Distance,
    tenants: HashMap<TenantId, HashMap<String, Stored>>,
    log: Option<BufWriter<File>>,
}

/// The embedded default vector store. Searches run on the blocking pool (an exact scan of 100k vectors takes tens
/// of milliseconds, too long for an async worker thread).
pub struct EmbeddedIndex {
    dir: Option<PathBuf>,
    collections: Arc<RwLock<HashMap<String, Collection>>>,
}

impl std::fmt::Debug for EmbeddedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedIndex").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn storage(e: impl std::fmt::Display) -> VectorError {
    VectorError::Storage(e.to_string())
}

fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn score(distance: Distance, a: &[f32], b: &[f32]) -> f32 {
    match distance {
        // Stored and query vectors are normalised for cosine, so the dot product is the cosine.
        Distance::Cosine | Distance::Dot => a.iter().zip(b).map(|(x, y)| x * y).sum(),
        Distance::Euclid => -a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt(),
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s);
}

/// A cursor over log bytes; `None` when a record is cut short.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = self.u32()? as usize;
        self.take(len).map(<[u8]>::to_vec)
    }
    fn tenant(&mut self) -> Option<TenantId> {
        let b = self.take(16)?;
        let mut raw = [0u8; 16];
        raw.copy_from_slice(b);
        Some(TenantId::from_bytes(raw))
    }
}

impl EmbeddedIndex {
    /// An index that lives only in memory (tests).
    pub fn in_memory() -> Self {
        Self { dir: None, collections: Arc::new(RwLock::new(HashMap::new())) }
    }

    /// Opens (creating if needed) the index persisted in `dir`, replaying every collection's log.
    pub fn open(dir: &Path) -> Result<Self, VectorError> {
        std::fs::create_dir_all(dir).map_err(storage)?;
        let mut collections = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(storage)? {
            let path = entry.map_err(storage)?.path();
            if path.extension().is_none_or(|e| e != "vlog") {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else { continue };
            let mut bytes = Vec::new();
            File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(storage)?;
            let mut collection =
                replay(&bytes).ok_or_else(|| storage(format!("{}: no collection header", path.display())))?;
            collection.log = Some(BufWriter::new(OpenOptions::new().append(true).open(&path).map_err(storage)?));
            collections.insert(name, collection);
        }
        Ok(Self { dir: Some(dir.to_owned()), collections: Arc::new(RwLock::new(collections)) })
    }

    fn write(collection: &mut Collection, record: &[u8]) -> Result<(), VectorError> {
        if let Some(log) = collection.log.as_mut() {
            log.write_all(record).map_err(storage)?;
        }
        Ok(())
    }

    fn flush(collection: &mut Collection) -> Result<(), VectorError> {
        if let Some(log) = collection.log.as_mut() {
            log.flush().map_err(storage)?;
            log.get_ref().sync_data().map_err(storage)?;
        }
        Ok(())
    }

    fn ensure(&self, name: &str, dimension: usize, distance: Distance) -> Result<(), VectorError> {
        check_collection_name(name)?;
        check_dimension(dimension)?;
        let mut collections = self.collections.write().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = collections.get(name) {
            if existing.dimension != dimension || existing.distance != distance {
                return Err(VectorError::Invalid(format!(
                    "collection {name} exists with dimension {} and {:?}",
                    existing.dimension, existing.distance
                )));
            }
            return Ok(());
        }
        let log = match &self.dir {
            Some(dir) => {
                let path = dir.join(format!("{name}.vlog"));
                let mut file =
                    BufWriter::new(OpenOptions::new().create(true).append(true).open(&path).map_err(storage)?);
                let mut header = vec![1u8];
                header.extend_from_slice(&(dimension as u32).to_le_bytes());
                header.push(distance_code(distance));
                file.write_all(&header).map_err(storage)?;
                file.flush().map_err(storage)?;
                Some(file)
            }
            None => None,
        };
        collections.insert(name.to_owned(), Collection { dimension, distance, tenants: HashMap::new(), log });
        Ok(())
    }

    fn upsert_now(&self, name: &str, points: Vec<Point>) -> Result<(), VectorError> {
        let mut collections = self.collections.write().unwrap_or_else(|p| p.into_inner());
        let collection =
            collections.get_mut(name).ok_or_else(|| VectorError::Invalid(format!("no collection {name}")))?;
        if let Some(bad) =
            points.iter().find(|p| p.vector.len() != collection.dimension || p.vector.iter().any(|x| !x.is_finite()))
        {
            return Err(VectorError::Invalid(format!(
                "point {}: the vector must have {} finite numbers",
                bad.id, collection.dimension
            )));
        }
        for point in points {
            let vector = if collection.distance == Distance::Cosine { normalized(point.vector) } else { point.vector };
            let payload = Value::Object(point.payload.clone()).to_string();
            let mut record = vec![2u8];
            record.extend_from_slice(point.tenant.as_uuid().as_bytes());
            put_str(&mut record, point.id.as_bytes());
            record.extend_from_slice(&(vector.len() as u32).to_le_bytes());
            for x in &vector {
                record.extend_from_slice(&x.to_le_bytes());
            }
            put_str(&mut record, payload.as_bytes());
            Self::write(collection, &record)?;
            collection
                .tenants
                .entry(point.tenant)
                .or_default()
                .insert(point.id, Stored { vector, payload: point.payload });
        }
        Self::flush(collection)
    }

    fn search_now(
        collections: &RwLock<HashMap<String, Collection>>,
        name: &str,
        tenant: TenantId,
        query: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Hit>, VectorError> {
        let collections = collections.read().unwrap_or_else(|p| p.into_inner());
        let collection = collections.get(name).ok_or_else(|| VectorError::Invalid(format!("no collection {name}")))?;
        if query.len() != collection.dimension {
            return Err(VectorError::Invalid(format!("the query must have {} numbers", collection.dimension)));
        }
        let query = if collection.distance == Distance::Cosine { normalized(query.to_vec()) } else { query.to_vec() };
        // Only this tenant's points are ever looked at.
        let Some(points) = collection.tenants.get(&tenant) else { return Ok(Vec::new()) };
        let mut scored: Vec<(f32, &String, &Stored)> = points
            .iter()
            .filter(|(_, s)| filter.matches(&s.payload))
            .map(|(id, s)| (score(collection.distance, &query, &s.vector), id, s))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        scored.truncate(k);
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(scored.into_iter().map(|(score, id, s)| Hit { id: id.clone(), score, payload: s.payload.clone() }).collect())
    }

    fn delete_now(&self, name: &str, tenant: TenantId, filter: &Filter) -> Result<u64, VectorError> {
        let mut collections = self.collections.write().unwrap_or_else(|p| p.into_inner());
        let collection =
            collections.get_mut(name).ok_or_else(|| VectorError::Invalid(format!("no collection {name}")))?;
        let ids: Vec<String> = collection
            .tenants
            .get(&tenant)
            .map(|points| points.iter().filter(|(_, s)| filter.matches(&s.payload)).map(|(id, _)| id.clone()).collect())
            .unwrap_or_default();
        for id in &ids {
            let mut record = vec![3u8];
            record.extend_from_slice(tenant.as_uuid().as_bytes());
            put_str(&mut record, id.as_bytes());
            Self::write(collection, &record)?;
            if let Some(points) = collection.tenants.get_mut(&tenant) {
                points.remove(id);
            }
        }
        Self::flush(collection)?;
        Ok(ids.len() as u64)
    }
}

fn distance_code(d: Distance) -> u8 {
    match d {
        Distance::Cosine => 0,
        Distance::Dot => 1,
        Distance::Euclid => 2,
    }
}

/// Rebuilds a collection from its log; `None` without a header.
fn replay(bytes: &[u8]) -> Option<Collection> {
    let mut r = Reader(bytes);
    if r.u8()? != 1 {
        return None;
    }
    let dimension = r.u32()? as usize;
    let distance = match r.u8()? {
        1 => Distance::Dot,
        2 => Distance::Euclid,
        _ => Distance::Cosine,
    };
    let mut tenants: HashMap<TenantId, HashMap<String, Stored>> = HashMap::new();
    // Each record is applied only once it has been read whole.
    while let Some(kind) = r.u8() {
        let applied = match kind {
            2 => (|| {
                let tenant = r.tenant()?;
                let id = String::from_utf8(r.bytes()?).ok()?;
                let len = r.u32()? as usize;
                let raw = r.take(len.checked_mul(4)?)?;
                let vector = raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                let payload = match serde_json::from_slice::<Value>(&r.bytes()?).ok()? {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                tenants.entry(tenant).or_default().insert(id, Stored { vector, payload });
                Some(())
            })(),
            3 => (|| {
                let tenant = r.tenant()?;
                let id = String::from_utf8(r.bytes()?).ok()?;
                if let Some(points) = tenants.get_mut(&tenant) {
                    points.remove(&id);
                }
                Some(())
            })(),
            _ => None,
        };
        if applied.is_none() {
            break;
        }
    }
    Some(Collection { dimension, distance, tenants, log: None })
}

impl VectorStore for EmbeddedIndex {
    fn ensure_collection<'a>(
        &'a self,
        collection: &'a str,
        dimension: usize,
        distance: Distance,
    ) -> VectorFuture<'a, ()> {
        Box::pin(std::future::ready(self.ensure(collection, dimension, distance)))
    }

    fn upsert<'a>(&'a self, collection: &'a str, points: Vec<Point>) -> VectorFuture<'a, ()> {
        Box::pin(std::future::ready(self.upsert_now(collection, points)))
    }

    fn search<'a>(
        &'a self,
        collection: &'a str,
        tenant: TenantId,
        vector: &'a [f32],
        k: usize,
        filter: &'a Filter,
    ) -> VectorFuture<'a, Vec<Hit>> {
        let (collections, name, query, filter) =
            (self.collections.clone(), collection.to_owned(), vector.to_vec(), filter.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || Self::search_now(&collections, &name, tenant, &query, k, &filter))
                .await
                .map_err(|e| VectorError::Storage(format!("search task failed: {e}")))?
        })
    }

    fn delete<'a>(&'a self, collection: &'a str, tenant: TenantId, filter: &'a Filter) -> VectorFuture<'a, u64> {
        Box::pin(std::future::ready(self.delete_now(collection, tenant, filter)))
    }

    fn name(&self) -> &'static str {
        "embedded"
    }
}
