//! The knowledge base's RPCs: `IngestDocument` (check, chunk, embed and index, then store the rows and the audit
//! record in one transaction), `ListDocuments` and `DeleteDocument`. Adding and deleting need the admin role: the
//! knowledge base answers every user of the tenant.

use switchboard_mesh::context::RequestContext;
use switchboard_proto::orchestrator::v1 as pb;
use switchboard_types::{Role, now_unix_micros};

use crate::convert::timestamp;
use crate::error::OrchestratorError;
use crate::knowledge::chunk;
use crate::runner::Engine;
use crate::service::{decode_token, encode_token, page_size};
use crate::storage::{ChunkRow, DocumentRow, Repo};

/// Largest document text, in bytes.
pub(crate) const MAX_TEXT_BYTES: usize = 1024 * 1024;
/// Longest title, in characters.
const MAX_TITLE_CHARS: usize = 200;

fn require_admin(context: &RequestContext, what: &str) -> Result<(), OrchestratorError> {
    if context.role().is_some_and(|r| r.includes(Role::Admin)) {
        Ok(())
    } else {
        Err(OrchestratorError::PermissionDenied(format!("{what} needs the admin or owner role")))
    }
}

/// The document id of `documents/{id}`.
fn document_id(name: &str) -> Result<String, OrchestratorError> {
    name.strip_prefix("documents/")
        .filter(|id| uuid::Uuid::parse_str(id).is_ok() && id.len() == 36)
        .map(str::to_owned)
        .ok_or_else(|| OrchestratorError::InvalidArgument(format!("name: expected documents/{{uuid}}, got {name:?}")))
}

/// The document as the API shows it (never with its text).
pub(crate) fn document_message(row: &DocumentRow) -> pb::Document {
    pb::Document {
        name: format!("documents/{}", row.id),
        id: row.id.clone(),
        title: row.title.clone(),
        media_type: row.media_type.clone(),
        text: String::new(),
        chunk_count: row.chunk_count,
        size_bytes: row.size_bytes,
        creator: row.creator.clone(),
        create_time: Some(timestamp(row.created_at_us)),
    }
}

/// What IngestDocument was asked to store, checked.
struct NewDocument {
    title: String,
    media_type: &'static str,
    text: String,
}

fn check(document: Option<pb::Document>) -> Result<NewDocument, OrchestratorError> {
    let invalid = |m: String| OrchestratorError::InvalidArgument(m);
    let document = document.ok_or_else(|| invalid("document: required (title and text)".into()))?;
    let title = document.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS || title.chars().any(char::is_control) {
        return Err(invalid(format!("document.title: 1-{MAX_TITLE_CHARS} characters, on one line")));
    }
    let media_type = match document.media_type.trim() {
        "" | "text/markdown" => "text/markdown",
        "text/plain" => "text/plain",
        other => {
            return Err(invalid(format!("document.media_type: text/markdown or text/plain, not {other:?}")));
        }
    };
    if document.text.len() > MAX_TEXT_BYTES {
        return Err(invalid(format!(
            "document.text: {} bytes; at most {MAX_TEXT_BYTES} (split the document into several)",
            document.text.len()
        )));
    }
    if document.text.contains('\0') {
        return Err(invalid("document.text: contains NUL characters; send text, not a binary file".into()));
    }
    if document.text.trim().is_empty() {
        return Err(invalid("document.text: required".into()));
    }
    Ok(NewDocument { title, media_type, text: document.text })
}

/// IngestDocument.
pub(crate) async fn ingest(
    engine: &Engine,
    context: &RequestContext,
    request: pb::IngestDocumentRequest,
) -> Result<pb::Document, OrchestratorError> {
    let tenant = context.require_tenant()?;
    require_admin(context, "adding a document to the knowledge base")?;
    let new = check(request.document)?;
    let knowledge = engine.tools.knowledge().ok_or_else(|| {
        OrchestratorError::FailedPrecondition("this orchestrator has no knowledge base configured".into())
    })?;
    let chunks = chunk::split(&new.text, new.media_type == "text/markdown");
    let id = uuid::Uuid::now_v7().to_string();
    // Vectors first, rows second: until the rows commit, a search finds the vectors but no rows and skips them.
    knowledge.index(tenant, &id, &new.title, &chunks).await?;
    let row = DocumentRow {
        tenant_id: String::new(),
        id: id.clone(),
        title: new.title,
        media_type: new.media_type.to_owned(),
        size_bytes: new.text.len() as i64,
        chunk_count: chunks.len() as i32,
        embedding_model: knowledge.model().to_owned(),
        creator: context.user().map(|u| u.to_string()).unwrap_or_default(),
        created_at_us: now_unix_micros(),
    };
    let chunk_rows = chunks
        .into_iter()
        .enumerate()
        .map(|(position, c)| ChunkRow {
            tenant_id: String::new(),
            document_id: id.clone(),
            position: position as i32,
            heading: c.heading,
            text: c.text,
        })
        .collect();
    let stored = async {
        let scope = engine.store.tenant(tenant).await?;
        Repo::new(&scope).insert_document(row.clone(), chunk_rows).await?;
        let details = [
            ("title", row.title.clone()),
            ("media_type", row.media_type.clone()),
            ("size_bytes", row.size_bytes.to_string()),
            ("chunks", row.chunk_count.to_string()),
            ("embedding_model", row.embedding_model.clone()),
        ];
        engine.audit(&scope, context, "orchestrator.document.ingest", format!("documents/{id}"), &details).await?;
        scope.commit().await?;
        Ok::<_, OrchestratorError>(())
    }
    .await;
    if let Err(e) = stored {
        if let Err(cleanup) = knowledge.unindex(tenant, &id).await {
            tracing::warn!(document = %id, error = %cleanup, "could not remove the vectors of a document not stored");
        }
        return Err(e);
    }
    tracing::info!(document = %id, chunks = row.chunk_count, "document ingested");
    Ok(document_message(&row))
}

/// ListDocuments.
pub(crate) async fn list(
    engine: &Engine,
    context: &RequestContext,
    request: pb::ListDocumentsRequest,
) -> Result<pb::ListDocumentsResponse, OrchestratorError> {
    let tenant = context.require_tenant()?;
    let limit = page_size(request.page_size)?;
    let after = decode_token(&request.page_token)?;
    let scope = engine.store.tenant(tenant).await?;
    let mut rows = Repo::new(&scope).documents(after, limit + 1).await?;
    scope.commit().await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next_page_token = match (more, rows.last()) {
        (true, Some(last)) => encode_token(last.created_at_us, &last.id),
        _ => String::new(),
    };
    Ok(pb::ListDocumentsResponse { documents: rows.iter().map(document_message).collect(), next_page_token })
}

/// DeleteDocument.
pub(crate) async fn delete(
    engine: &Engine,
    context: &RequestContext,
    request: pb::DeleteDocumentRequest,
) -> Result<pb::Document, OrchestratorError> {
    let tenant = context.require_tenant()?;
    let id = document_id(&request.name)?;
    require_admin(context, "deleting a document from the knowledge base")?;
    let scope = engine.store.tenant(tenant).await?;
    let repo = Repo::new(&scope);
    let row = repo
        .document(&id)
        .await?
        .ok_or_else(|| OrchestratorError::NotFound(format!("{}: no such document", request.name)))?;
    repo.delete_document(&id).await?;
    let details = [("title", row.title.clone()), ("chunks", row.chunk_count.to_string())];
    engine.audit(&scope, context, "orchestrator.document.delete", format!("documents/{id}"), &details).await?;
    scope.commit().await?;
    // The rows are gone, so searches no longer quote the document; vectors left behind by a failure here are
    // skipped by every search.
    if let Some(knowledge) = engine.tools.knowledge()
        && let Err(e) = knowledge.unindex(tenant, &id).await
    {
        tracing::warn!(document = %id, error = %e, "could not remove a deleted document's vectors");
    }
    Ok(document_message(&row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_checked() {
        let doc = |title: &str, media: &str, text: &str| {
            Some(pb::Document {
                title: title.into(),
                media_type: media.into(),
                text: text.into(),
                ..Default::default()
            })
        };
        assert_eq!(check(doc(" Policy ", "", "# Returns\n30 days")).unwrap().media_type, "text/markdown");
        assert_eq!(check(doc("Policy", "text/plain", "x")).unwrap().title, "Policy");
        assert!(check(None).is_err());
        assert!(check(doc("", "", "x")).is_err());
        assert!(check(doc("a\nb", "", "x")).is_err());
        assert!(check(doc("Policy", "application/pdf", "x")).is_err());
        assert!(check(doc("Policy", "", "  \n ")).is_err());
        assert!(check(doc("Policy", "", "a\0b")).is_err());
        assert!(check(doc("Policy", "", &"x".repeat(MAX_TEXT_BYTES + 1))).is_err());
        assert!(document_id("documents/0190f6a4-7c1e-7d2a-9a1b-3c4d5e6f7a8b").is_ok());
        assert!(
            document_id("documents/x").is_err() && document_id("runs/0190f6a4-7c1e-7d2a-9a1b-3c4d5e6f7a8b").is_err()
        );
    }
}
