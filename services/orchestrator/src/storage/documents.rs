//! The knowledge base's rows: documents and their chunks' text, on the repository's tenant scope.

use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use switchboard_store::StoreError;

use super::Repo;
pub(crate) use super::entity::document::Model as DocumentRow;
pub(crate) use super::entity::document_chunk::Model as ChunkRow;
use super::entity::{document, document_chunk};

/// Chunks inserted per statement (well under SQLite's and PostgreSQL's bound-parameter limits).
const CHUNKS_PER_INSERT: usize = 200;

impl Repo<'_> {
    /// Inserts a document and its chunks.
    pub(crate) async fn insert_document(&self, row: DocumentRow, chunks: Vec<ChunkRow>) -> Result<(), StoreError> {
        let row: document::ActiveModel = row.into();
        self.scope.insert([row]).await?;
        let mut chunks = chunks.into_iter().map(document_chunk::ActiveModel::from).peekable();
        while chunks.peek().is_some() {
            let batch: Vec<_> = chunks.by_ref().take(CHUNKS_PER_INSERT).collect();
            self.scope.insert(batch).await?;
        }
        Ok(())
    }

    pub(crate) async fn document(&self, id: &str) -> Result<Option<DocumentRow>, StoreError> {
        Ok(self.scope.select::<document::Entity>().filter(document::Column::Id.eq(id)).one(self.db()).await?)
    }

    /// Newest first, after `(created_at_us, id)` of the previous page.
    pub(crate) async fn documents(
        &self,
        after: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<DocumentRow>, StoreError> {
        use document::Column as C;
        let mut query = self.scope.select::<document::Entity>();
        if let Some((time, id)) = after {
            query = query.filter(
                sea_orm::Condition::any()
                    .add(C::CreatedAtUs.lt(time))
                    .add(sea_orm::Condition::all().add(C::CreatedAtUs.eq(time)).add(C::Id.lt(id))),
            );
        }
        Ok(query.order_by_desc(C::CreatedAtUs).order_by_desc(C::Id).limit(limit).all(self.db()).await?)
    }

    /// Deletes a document and its chunks; whether it existed.
    pub(crate) async fn delete_document(&self, id: &str) -> Result<bool, StoreError> {
        self.scope
            .delete_many::<document_chunk::Entity>()
            .filter(document_chunk::Column::DocumentId.eq(id))
            .exec(self.db())
            .await?;
        let deleted =
            self.scope.delete_many::<document::Entity>().filter(document::Column::Id.eq(id)).exec(self.db()).await?;
        Ok(deleted.rows_affected > 0)
    }

    /// The chunks named by `(document id, position)`, with their documents, in no particular order; names with no
    /// row (a document deleted since it was indexed) are left out.
    pub(crate) async fn chunks(&self, names: &[(String, i32)]) -> Result<Vec<(DocumentRow, ChunkRow)>, StoreError> {
        let mut ids: Vec<&str> = names.iter().map(|(id, _)| id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let documents = self
            .scope
            .select::<document::Entity>()
            .filter(document::Column::Id.is_in(ids.iter().copied()))
            .all(self.db())
            .await?;
        let mut condition = sea_orm::Condition::any();
        for (id, position) in names {
            condition = condition.add(
                sea_orm::Condition::all()
                    .add(document_chunk::Column::DocumentId.eq(id.as_str()))
                    .add(document_chunk::Column::Position.eq(*position)),
            );
        }
        let chunks = self.scope.select::<document_chunk::Entity>().filter(condition).all(self.db()).await?;
        Ok(chunks
            .into_iter()
            .filter_map(|chunk| {
                let document = documents.iter().find(|d| d.id == chunk.document_id)?.clone();
                Some((document, chunk))
            })
            .collect())
    }
}
