//! The accepted connection itself: how it presents itself to the HTTP stacks that write to it.

use switchboard_mesh::server::{Limits, Transport, incoming};
use tokio::io::AsyncWrite;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

/// h2 copies small DATA frames and sends a response's frames in one write only on a stream that says it cannot
/// write vectors (see `ServerStream::is_write_vectored`): every accepted stream must say so.
#[tokio::test]
async fn accepted_streams_do_not_ask_for_vectored_writes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let mut accepted = incoming(listener, &Transport::Plaintext, &Limits::default(), None, shutdown.clone()).unwrap();
    let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let stream = accepted.next().await.unwrap().unwrap();
    assert!(!stream.is_write_vectored());
    shutdown.cancel();
}
