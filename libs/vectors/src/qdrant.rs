//! The Qdrant adapter: one Qdrant collection per Switchboard collection, shared by every tenant (Qdrant's
//! multitenancy pattern) instead of a collection per tenant.
//!
//! - Each point carries its owner in the `tenant_id` payload field, which has a keyword index created with
//!   `is_tenant: true`, so Qdrant keeps a tenant's points together and answers tenant-filtered queries from them.
//! - Every search, count and delete sends a `tenant_id` condition built here from the [`TenantId`] argument; the
//!   caller's filter is added to it, never substituted for it, so no request can reach another tenant's points.
//! - Qdrant ids must be integers or UUIDs, and one tenant's `doc-1` must not overwrite another's: the Qdrant id is a
//!   UUID v5 of `<tenant>/<id>`, and the caller's id travels in the `_point_id` payload field. Both reserved fields
//!   are stripped from returned payloads and refused in callers' payloads and filters.
//!
//! Scores mean what they mean in the embedded index (higher is closer): Qdrant reports a Euclidean distance, which
//! is negated here. Filters match strings, integers and booleans (Qdrant's `match`); other JSON values are refused,
//! and a condition on a payload array matches when any element does. Connections are plain `http://` gRPC (port
//! 6334, the timeout bounding every call): the adapter refuses `https://`, so the platform keeps one TLS setup.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use qdrant_client::qdrant::r#match::MatchValue;
use qdrant_client::qdrant::{
    CollectionInfo, Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance as QdrantDistance, FieldType, Filter as QdrantFilter, KeywordIndexParamsBuilder,
    PointStruct, QueryPointsBuilder, ScoredPoint, UpsertPointsBuilder, VectorParamsBuilder, vectors_config,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use serde_json::{Map, Value};
use switchboard_types::TenantId;
use tonic::Code;
use uuid::Uuid;

use crate::{
    Distance, Filter, Hit, Point, VectorError, VectorFuture, VectorStore, check_collection_name, check_dimension,
};

/// Payload field naming the point's owner (keyword-indexed with `is_tenant`).
const TENANT_KEY: &str = "tenant_id";
/// Payload field holding the caller's point id (the Qdrant id is derived from it).
const POINT_ID_KEY: &str = "_point_id";
/// Namespace of the derived point ids. Changing it orphans every stored point.
const POINT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c1f_0d3a_94b2_5e07_8a4d_2f6b_91c3_e5a8);
/// Vector bytes per upsert request: well under the 32 MiB Qdrant accepts by default.
const UPSERT_BYTES: usize = 8 << 20;
/// Most points per upsert request, whatever their size.
const UPSERT_MAX_POINTS: usize = 1024;

/// What a collection was created with; it never changes afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    dimension: usize,
    distance: Distance,
}

/// Vectors in a Qdrant server, reached over gRPC.
pub struct QdrantStore {
    /// The gRPC client (its own small connection pool, reconnecting after failures).
    client: Qdrant,
    /// The server's URL, for error messages.
    endpoint: String,
    /// Shapes of the collections seen so far, so upserts and searches validate input without a round trip.
    shapes: RwLock<HashMap<String, Shape>>,
}

impl std::fmt::Debug for QdrantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantStore").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

// === impl QdrantStore ===

impl QdrantStore {
    /// Connects to the Qdrant gRPC endpoint at `url` (`http://host:6334`, or `https://` for TLS verified against the
    /// system's roots, as Qdrant Cloud needs), sending `api_key` with every call when given, and checks that it
    /// answers; `timeout` bounds the connection and every later call.
    pub async fn connect(url: &str, api_key: Option<&str>, timeout: Duration) -> Result<Self, VectorError> {
        let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("https") => {}
            Some("http") if api_key.is_some() => {
                tracing::warn!(%url, "the Qdrant API key goes over plain http: use https:// outside a private network");
            }
            Some("http") => {}
            _ => {
                return Err(VectorError::Invalid(format!(
                    "unsupported Qdrant URL {url:?}: use http://host:6334 or https://host:6334"
                )));
            }
        }
        // The compatibility check would block this thread on a private runtime and print to stdout; the health
        // check below does the same job within the timeout.
        let client = Qdrant::from_url(url)
            .api_key(api_key.map(str::to_owned))
            .timeout(timeout)
            .connect_timeout(timeout)
            .skip_compatibility_check()
            .build()
            .map_err(|e| VectorError::Invalid(format!("Qdrant URL {url:?}: {e}")))?;
        match tokio::time::timeout(timeout, client.health_check()).await {
            Ok(Ok(_)) => Ok(Self { client, endpoint: url.to_owned(), shapes: RwLock::new(HashMap::new()) }),
            Ok(Err(e)) => Err(VectorError::Unavailable(format!("Qdrant at {url}: cannot connect: {e}"))),
            Err(_) => Err(VectorError::Unavailable(format!("Qdrant at {url}: no answer within {timeout:?}"))),
        }
    }

    /// Maps a client error: no answer is [`VectorError::Unavailable`], a refused request [`VectorError::Invalid`].
    fn error(&self, e: QdrantError) -> VectorError {
        let endpoint = &self.endpoint;
        match e {
            QdrantError::ResponseError { status } => {
                let message = status.message();
                match status.code() {
                    Code::InvalidArgument
                    | Code::NotFound
                    | Code::AlreadyExists
                    | Code::FailedPrecondition
                    | Code::OutOfRange => VectorError::Invalid(format!("Qdrant refused the request: {message}")),
                    // The client reports a connection it could not make as Internal or Unknown.
                    Code::Unavailable
                    | Code::DeadlineExceeded
                    | Code::Cancelled
                    | Code::ResourceExhausted
                    | Code::Aborted
                    | Code::Internal
                    | Code::Unknown => VectorError::Unavailable(format!("Qdrant at {endpoint}: {message}")),
                    Code::Ok
                    | Code::PermissionDenied
                    | Code::Unauthenticated
                    | Code::Unimplemented
                    | Code::DataLoss => VectorError::Storage(format!("Qdrant at {endpoint}: {message}")),
                }
            }
            QdrantError::ResourceExhaustedError { status, .. } => {
                VectorError::Unavailable(format!("Qdrant at {endpoint} is overloaded: {}", status.message()))
            }
            QdrantError::Io(e) => VectorError::Unavailable(format!("Qdrant at {endpoint}: {e}")),
            QdrantError::ConversionError(message) => VectorError::Invalid(message),
            // The rest come from calls this adapter never makes (snapshots, JSON payloads), and some exist only
            // under qdrant-client features another crate could enable, so they cannot be listed.
            other => VectorError::Storage(format!("Qdrant at {endpoint}: {other}")),
        }
    }

    /// Like [`Self::error`], with Qdrant's "not found" worded as the embedded index words it.
    fn lookup_error(&self, collection: &str, e: QdrantError) -> VectorError {
        if let QdrantError::ResponseError { status } = &e
            && status.code() == Code::NotFound
        {
            return VectorError::Invalid(format!("no collection {collection}"));
        }
        self.error(e)
    }

    fn cached(&self, collection: &str) -> Option<Shape> {
        self.shapes.read().unwrap_or_else(|p| p.into_inner()).get(collection).copied()
    }

    fn remember(&self, collection: &str, shape: Shape) {
        self.shapes.write().unwrap_or_else(|p| p.into_inner()).insert(collection.to_owned(), shape);
    }

    /// The collection's shape, asking Qdrant the first time.
    async fn shape(&self, collection: &str) -> Result<Shape, VectorError> {
        check_collection_name(collection)?;
        if let Some(shape) = self.cached(collection) {
            return Ok(shape);
        }
        let info = self.client.collection_info(collection).await.map_err(|e| self.lookup_error(collection, e))?;
        let shape = shape_of(collection, info.result.as_ref())?;
        self.remember(collection, shape);
        Ok(shape)
    }

    async fn ensure(&self, collection: &str, dimension: usize, distance: Distance) -> Result<(), VectorError> {
        check_collection_name(collection)?;
        check_dimension(dimension)?;
        let exists = self.client.collection_exists(collection).await.map_err(|e| self.error(e))?;
        if !exists {
            let create = CreateCollectionBuilder::new(collection)
                .vectors_config(VectorParamsBuilder::new(dimension as u64, qdrant_distance(distance)));
            if let Err(refused) = self.client.create_collection(create).await {
                // Another replica may have created it meanwhile; its shape is checked below like any other.
                if !self.client.collection_exists(collection).await.map_err(|e| self.error(e))? {
                    return Err(self.error(refused));
                }
            }
        }
        let info = self.client.collection_info(collection).await.map_err(|e| self.lookup_error(collection, e))?;
        let existing = shape_of(collection, info.result.as_ref())?;
        if existing != (Shape { dimension, distance }) {
            return Err(VectorError::Invalid(format!(
                "collection {collection} exists with dimension {} and {:?}",
                existing.dimension, existing.distance
            )));
        }
        let indexed = info.result.as_ref().is_some_and(|i| i.payload_schema.contains_key(TENANT_KEY));
        if !indexed {
            let index = CreateFieldIndexCollectionBuilder::new(collection, TENANT_KEY, FieldType::Keyword)
                .field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true))
                .wait(true);
            self.client.create_field_index(index).await.map_err(|e| self.error(e))?;
        }
        self.remember(collection, existing);
        Ok(())
    }

    async fn upsert_points(&self, collection: &str, points: Vec<Point>) -> Result<(), VectorError> {
        let shape = self.shape(collection).await?;
        if let Some(bad) =
            points.iter().find(|p| p.vector.len() != shape.dimension || p.vector.iter().any(|x| !x.is_finite()))
        {
            return Err(VectorError::Invalid(format!(
                "point {}: the vector must have {} finite numbers",
                bad.id, shape.dimension
            )));
        }
        if let Some((point, key)) = points.iter().find_map(|p| reserved_key(p.payload.keys()).map(|k| (p, k))) {
            return Err(VectorError::Invalid(format!("point {}: payload key {key:?} is reserved", point.id)));
        }
        let per_request = (UPSERT_BYTES / (shape.dimension.max(1) * 4)).clamp(1, UPSERT_MAX_POINTS);
        let mut batch = Vec::with_capacity(per_request.min(points.len()));
        for point in points {
            batch.push(point_struct(point));
            if batch.len() == per_request {
                self.upsert_batch(collection, std::mem::take(&mut batch)).await?;
            }
        }
        if !batch.is_empty() {
            self.upsert_batch(collection, batch).await?;
        }
        Ok(())
    }

    async fn upsert_batch(&self, collection: &str, batch: Vec<PointStruct>) -> Result<(), VectorError> {
        let request = UpsertPointsBuilder::new(collection, batch).wait(true);
        self.client.upsert_points(request).await.map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn search_points(
        &self,
        collection: &str,
        tenant: TenantId,
        vector: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Hit>, VectorError> {
        let shape = self.shape(collection).await?;
        if vector.len() != shape.dimension {
            return Err(VectorError::Invalid(format!("the query must have {} numbers", shape.dimension)));
        }
        let selector = tenant_filter(tenant, filter)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let request = QueryPointsBuilder::new(collection)
            .query(vector.to_vec())
            .filter(selector)
            .limit(k as u64)
            .with_payload(true);
        let response = self.client.query(request).await.map_err(|e| self.error(e))?;
        response.result.into_iter().map(|point| hit(shape.distance, point)).collect()
    }

    async fn delete_points(&self, collection: &str, tenant: TenantId, filter: &Filter) -> Result<u64, VectorError> {
        check_collection_name(collection)?;
        let selector = tenant_filter(tenant, filter)?;
        // Qdrant's delete does not say how many points it removed, so count first with the same filter. A point
        // the same tenant writes between the two calls may be deleted without being counted.
        let request = CountPointsBuilder::new(collection).filter(selector.clone()).exact(true);
        let counted = self.client.count(request).await.map_err(|e| self.lookup_error(collection, e))?;
        let count = counted.result.map_or(0, |r| r.count);
        if count > 0 {
            let request = DeletePointsBuilder::new(collection).points(selector).wait(true);
            self.client.delete_points(request).await.map_err(|e| self.error(e))?;
        }
        Ok(count)
    }
}

fn qdrant_distance(distance: Distance) -> QdrantDistance {
    match distance {
        Distance::Cosine => QdrantDistance::Cosine,
        Distance::Dot => QdrantDistance::Dot,
        Distance::Euclid => QdrantDistance::Euclid,
    }
}

/// The dimension and distance of an existing collection, refusing ones this adapter did not create.
fn shape_of(collection: &str, info: Option<&CollectionInfo>) -> Result<Shape, VectorError> {
    let config = info
        .and_then(|i| i.config.as_ref())
        .and_then(|c| c.params.as_ref())
        .and_then(|p| p.vectors_config.as_ref())
        .and_then(|v| v.config.as_ref());
    let Some(vectors_config::Config::Params(params)) = config else {
        return Err(VectorError::Invalid(format!(
            "collection {collection} exists in Qdrant without a single unnamed vector; it was not created here"
        )));
    };
    let distance = [Distance::Cosine, Distance::Dot, Distance::Euclid]
        .into_iter()
        .find(|d| qdrant_distance(*d) as i32 == params.distance)
        .ok_or_else(|| {
            VectorError::Invalid(format!("collection {collection} exists in Qdrant with an unsupported distance"))
        })?;
    let dimension = usize::try_from(params.size)
        .map_err(|_| VectorError::Invalid(format!("collection {collection} has an unusable dimension")))?;
    Ok(Shape { dimension, distance })
}

/// The first reserved key among `keys`.
fn reserved_key<'k>(mut keys: impl Iterator<Item = &'k String>) -> Option<&'k String> {
    keys.find(|k| *k == TENANT_KEY || *k == POINT_ID_KEY)
}

/// The Qdrant id of `tenant`'s point `id`: the same for the same pair, different across tenants.
fn point_uuid(tenant: TenantId, id: &str) -> Uuid {
    Uuid::new_v5(&POINT_ID_NAMESPACE, format!("{tenant}/{id}").as_bytes())
}

fn point_struct(point: Point) -> PointStruct {
    let uuid = point_uuid(point.tenant, &point.id);
    let mut payload = point.payload;
    payload.insert(TENANT_KEY.to_owned(), Value::String(point.tenant.to_string()));
    payload.insert(POINT_ID_KEY.to_owned(), Value::String(point.id));
    PointStruct::new(uuid.to_string(), point.vector, Payload::from(payload))
}

/// `filter`'s conditions under the tenant's own: every request Qdrant gets is scoped to one tenant.
fn tenant_filter(tenant: TenantId, filter: &Filter) -> Result<QdrantFilter, VectorError> {
    let mut conditions = Vec::with_capacity(filter.equals.len() + 1);
    conditions.push(Condition::matches(TENANT_KEY, MatchValue::Keyword(tenant.to_string())));
    if let Some(key) = reserved_key(filter.equals.iter().map(|(k, _)| k)) {
        return Err(VectorError::Invalid(format!("payload key {key:?} is reserved")));
    }
    for (key, value) in &filter.equals {
        let unsupported = || {
            VectorError::Invalid(format!("filter on {key:?}: the Qdrant store matches strings, integers and booleans"))
        };
        // Keyword, never Qdrant's `From<String>`: that turns a string with spaces into a full-text match.
        let matched = match value {
            Value::String(s) => MatchValue::Keyword(s.clone()),
            Value::Bool(b) => MatchValue::Boolean(*b),
            Value::Number(n) => MatchValue::Integer(n.as_i64().ok_or_else(unsupported)?),
            Value::Null | Value::Array(_) | Value::Object(_) => return Err(unsupported()),
        };
        conditions.push(Condition::matches(key.clone(), matched));
    }
    Ok(QdrantFilter::must(conditions))
}

/// A search result with the reserved fields taken out of its payload.
fn hit(distance: Distance, point: ScoredPoint) -> Result<Hit, VectorError> {
    let mut payload: Map<String, Value> = Payload::from(point.payload).into();
    payload.remove(TENANT_KEY);
    let Some(Value::String(id)) = payload.remove(POINT_ID_KEY) else {
        return Err(VectorError::Storage(format!(
            "a point without {POINT_ID_KEY}: the collection holds data this adapter did not write"
        )));
    };
    // Qdrant's Euclid score is the distance (smaller is closer); ours is its negation, as in the embedded index.
    let score = if distance == Distance::Euclid { -point.score } else { point.score };
    Ok(Hit { id, score, payload })
}

impl VectorStore for QdrantStore {
    fn ensure_collection<'a>(
        &'a self,
        collection: &'a str,
        dimension: usize,
        distance: Distance,
    ) -> VectorFuture<'a, ()> {
        Box::pin(self.ensure(collection, dimension, distance))
    }

    fn upsert<'a>(&'a self, collection: &'a str, points: Vec<Point>) -> VectorFuture<'a, ()> {
        Box::pin(self.upsert_points(collection, points))
    }

    fn search<'a>(
        &'a self,
        collection: &'a str,
        tenant: TenantId,
        vector: &'a [f32],
        k: usize,
        filter: &'a Filter,
    ) -> VectorFuture<'a, Vec<Hit>> {
        Box::pin(self.search_points(collection, tenant, vector, k, filter))
    }

    fn delete<'a>(&'a self, collection: &'a str, tenant: TenantId, filter: &'a Filter) -> VectorFuture<'a, u64> {
        Box::pin(self.delete_points(collection, tenant, filter))
    }

    fn name(&self) -> &'static str {
        "qdrant"
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn point_ids_are_stable_per_tenant_and_distinct_across_tenants() {
        let (a, b) = (TenantId::generate(), TenantId::generate());
        assert_eq!(point_uuid(a, "doc-1"), point_uuid(a, "doc-1"));
        assert_ne!(point_uuid(a, "doc-1"), point_uuid(b, "doc-1"));
        assert_ne!(point_uuid(a, "doc-1"), point_uuid(a, "doc-2"));
    }

    #[test]
    fn the_stored_payload_names_owner_and_id() {
        let tenant = TenantId::generate();
        let mut payload = Map::new();
        payload.insert("kind".into(), json!("invoice"));
        let point = point_struct(Point { id: "p1".into(), tenant, vector: vec![1.0], payload });
        let stored: Map<String, Value> = Payload::from(point.payload).into();
        assert_eq!(stored[TENANT_KEY], json!(tenant.to_string()));
        assert_eq!(stored[POINT_ID_KEY], json!("p1"));
        assert_eq!(stored["kind"], json!("invoice"));
    }

    #[test]
    fn every_filter_starts_with_the_tenant() {
        let tenant = TenantId::generate();
        let filter = Filter { equals: vec![("kind".into(), json!("two words")), ("n".into(), json!(3))] };
        let built = tenant_filter(tenant, &filter).unwrap();
        assert_eq!(built.must.len(), 3);
        assert_eq!(built.must[0], Condition::matches(TENANT_KEY, MatchValue::Keyword(tenant.to_string())));
        assert_eq!(built.must[1], Condition::matches("kind", MatchValue::Keyword("two words".into())));
    }

    #[test]
    fn reserved_keys_and_unmatchable_values_are_refused() {
        let tenant = TenantId::generate();
        for (key, value) in [(TENANT_KEY, json!("x")), (POINT_ID_KEY, json!("x")), ("n", json!(1.5)), ("o", json!({}))]
        {
            let filter = Filter { equals: vec![(key.into(), value)] };
            assert!(matches!(tenant_filter(tenant, &filter), Err(VectorError::Invalid(_))), "{key}");
        }
    }
}
