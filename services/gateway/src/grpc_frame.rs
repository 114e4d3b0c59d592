//! gRPC's length-prefixed message framing, written once for the edge: one flag byte (0: uncompressed), a 4-byte
//! big-endian length, then the message. The REST handler frames the request it sends in-process and unframes the
//! replies (one for a unary call, many for a stream); the edge reads the frame headers of gRPC requests to hold
//! every message to its method's size limit.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};

/// Bytes before each message.
pub(crate) const HEADER_BYTES: usize = 5;

/// Why a frame cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// The compressed flag is set (the edge never negotiates compression) or the flag is not 0 or 1.
    #[error("a compressed or malformed gRPC frame")]
    Compressed,
    /// The declared message length is over the limit.
    #[error("a {len}-byte gRPC message, over the {limit}-byte limit")]
    TooLarge {
        /// The declared length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The body ended inside a frame.
    #[error("the gRPC body ended inside a message")]
    Truncated,
}

/// `message` framed (uncompressed).
pub(crate) fn encode(message: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(HEADER_BYTES + message.len());
    frame.extend_from_slice(&[0]);
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap_or(u32::MAX).to_be_bytes());
    frame.extend_from_slice(message);
    frame.freeze()
}

/// The message length a frame header declares, checked against `limit`.
fn declared(header: &[u8], limit: usize) -> Result<usize, FrameError> {
    if header[0] != 0 {
        return Err(FrameError::Compressed);
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > limit { Err(FrameError::TooLarge { len, limit }) } else { Ok(len) }
}

/// Splits a stream of bytes into messages, each at most `limit` bytes.
#[derive(Debug)]
pub(crate) struct Decoder {
    buffer: BytesMut,
    limit: usize,
}

impl Decoder {
    pub(crate) fn new(limit: usize) -> Self {
        Self { buffer: BytesMut::new(), limit }
    }

    /// Adds received bytes.
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// The next whole message, if one has arrived.
    pub(crate) fn next(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.buffer.len() < HEADER_BYTES {
            return Ok(None);
        }
        let len = declared(&self.buffer[..HEADER_BYTES], self.limit)?;
        if self.buffer.len() < HEADER_BYTES + len {
            return Ok(None);
        }
        self.buffer.advance(HEADER_BYTES);
        Ok(Some(self.buffer.split_to(len).freeze()))
    }

    /// Whether a partial frame is left over (the body ended inside a message).
    pub(crate) fn has_partial(&self) -> bool {
        !self.buffer.is_empty()
    }
}

/// Checks that `body` (a whole gRPC request) holds whole frames of at most `limit` bytes each.
pub(crate) fn check_all(body: &[u8], limit: usize) -> Result<(), FrameError> {
    let mut rest = body;
    while !rest.is_empty() {
        if rest.len() < HEADER_BYTES {
            return Err(FrameError::Truncated);
        }
        let len = declared(&rest[..HEADER_BYTES], limit)?;
        rest = rest.get(HEADER_BYTES + len..).ok_or(FrameError::Truncated)?;
    }
    Ok(())
}

/// A streaming request body that fails as soon as a frame header declares a message over `limit` (client-streaming
/// RPCs, whose body the edge does not read whole). The first violation is kept for the edge to report.
pub(crate) struct LimitedFrames<B> {
    inner: B,
    limit: usize,
    /// Header bytes of the next frame seen so far.
    header: [u8; HEADER_BYTES],
    header_len: usize,
    /// Message bytes still to pass before the next header.
    payload_left: usize,
    violation: std::sync::Arc<std::sync::OnceLock<FrameError>>,
}

impl<B> LimitedFrames<B> {
    pub(crate) fn new(inner: B, limit: usize) -> (Self, std::sync::Arc<std::sync::OnceLock<FrameError>>) {
        let violation = std::sync::Arc::new(std::sync::OnceLock::new());
        let body = Self {
            inner,
            limit,
            header: [0; HEADER_BYTES],
            header_len: 0,
            payload_left: 0,
            violation: violation.clone(),
        };
        (body, violation)
    }

    fn inspect(&mut self, mut data: &[u8]) -> Result<(), FrameError> {
        while !data.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(data.len());
                self.payload_left -= n;
                data = &data[n..];
                continue;
            }
            let n = (HEADER_BYTES - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
            self.header_len += n;
            data = &data[n..];
            if self.header_len == HEADER_BYTES {
                self.payload_left = declared(&self.header, self.limit)?;
                self.header_len = 0;
            }
        }
        Ok(())
    }
}

impl<B> http_body::Body for LimitedFrames<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Err(e) = self.inspect(data)
                {
                    let _ = self.violation.set(e.clone());
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[test]
    fn frames_round_trip_and_limits_hold() {
        let mut decoder = Decoder::new(10);
        let two = [encode(b"hello"), encode(b"world!")].concat();
        decoder.push(&two[..7]);
        assert_eq!(decoder.next().unwrap(), None, "a partial frame waits");
        decoder.push(&two[7..]);
        assert_eq!(decoder.next().unwrap().unwrap(), "hello");
        assert_eq!(decoder.next().unwrap().unwrap(), "world!");
        assert!(!decoder.has_partial());
        decoder.push(&encode(&[0; 11]));
        assert_eq!(decoder.next(), Err(FrameError::TooLarge { len: 11, limit: 10 }));

        assert!(check_all(&two, 10).is_ok());
        assert_eq!(check_all(&two, 5), Err(FrameError::TooLarge { len: 6, limit: 5 }));
        assert_eq!(check_all(&two[..two.len() - 1], 10), Err(FrameError::Truncated));
        assert_eq!(check_all(&[1, 0, 0, 0, 0], 10), Err(FrameError::Compressed));
    }

    #[tokio::test]
    async fn a_streaming_body_fails_at_the_first_oversized_header() {
        let mut wire = encode(b"ok").to_vec();
        wire.extend_from_slice(&[0, 0, 0, 1, 0]); // declares 256 bytes
        let chunks: Vec<Result<http_body::Frame<Bytes>, std::convert::Infallible>> =
            wire.chunks(3).map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c)))).collect();
        let body = http_body_util::StreamBody::new(futures::stream::iter(chunks));
        let (limited, violation) = LimitedFrames::new(body, 100);
        assert!(limited.collect().await.is_err());
        assert_eq!(violation.get(), Some(&FrameError::TooLarge { len: 256, limit: 100 }));
    }
}
