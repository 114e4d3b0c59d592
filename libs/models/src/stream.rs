//! The streaming API: a call's output as a [`ChatStream`] of [`StreamEvent`]s, the same for every provider, and
//! [`collect`] to turn a stream into a [`ChatResponse`]. The `drive` half reads a provider's SSE body under the
//! call's deadlines and hands each event to that provider's decoder.

use std::collections::VecDeque;

use futures::StreamExt;
use futures::stream::BoxStream;

use crate::chat::{ChatResponse, StopReason, ToolCall, Usage};
use crate::error::{ModelError, TimeoutPhase};
use crate::http::Deadlines;
use crate::sse::{SseDecoder, SseEvent};

/// One piece of a streamed answer.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// More answer text.
    TextDelta(String),
    /// A tool call begins. Parallel calls have distinct indices (0, 1, … in the order they started), and their
    /// events may interleave.
    ToolCallStart {
        /// The call's index in this response.
        index: usize,
        /// The provider's call id.
        id: String,
        /// The tool's name.
        name: String,
    },
    /// A fragment of a call's arguments (not JSON on its own).
    ToolCallDelta {
        /// The call's index.
        index: usize,
        /// The fragment.
        fragment: String,
    },
    /// A call's arguments are complete and parsed.
    ToolCallEnd {
        /// The call's index.
        index: usize,
        /// The whole call.
        call: ToolCall,
    },
    /// Token usage so far; the last one of a stream is the call's total.
    Usage(Usage),
    /// The answer is complete; nothing follows.
    Finished {
        /// Why the model stopped.
        stop_reason: StopReason,
    },
}

/// A streamed answer. An `Err` item is the stream's last: the provider failed mid-stream or the stream broke; the
/// events before it were real output and are not repeated elsewhere.
pub type ChatStream = BoxStream<'static, Result<StreamEvent, ModelError>>;

/// Reads a stream to its end into a [`ChatResponse`]; the first error is returned.
pub async fn collect(mut stream: ChatStream) -> Result<ChatResponse, ModelError> {
    let mut text = String::new();
    let mut calls: Vec<(usize, ToolCall)> = Vec::new();
    let mut usage = Usage::default();
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::TextDelta(delta) => text.push_str(&delta),
            StreamEvent::ToolCallStart { .. } | StreamEvent::ToolCallDelta { .. } => {}
            StreamEvent::ToolCallEnd { index, call } => calls.push((index, call)),
            StreamEvent::Usage(u) => usage = u,
            StreamEvent::Finished { stop_reason } => {
                calls.sort_by_key(|(index, _)| *index);
                let tool_calls = calls.into_iter().map(|(_, call)| call).collect();
                return Ok(ChatResponse { text, tool_calls, stop_reason, usage });
            }
        }
    }
    // The providers' drivers end every stream with `Finished` or an error; anything else is a broken stream.
    Err(ModelError::Protocol { provider: "stream".to_owned(), message: "ended without a finished event".to_owned() })
}

/// A provider's reading of its SSE events.
pub(crate) trait EventDecoder: Send + 'static {
    /// Handles one event, appending what it means to `out`. `Ok(true)` marks the provider's final event.
    fn event(&mut self, event: SseEvent, out: &mut Vec<StreamEvent>) -> Result<bool, ModelError>;
}

struct Driver<D> {
    provider: String,
    response: reqwest::Response,
    sse: SseDecoder,
    decoder: D,
    deadlines: Deadlines,
    pending: VecDeque<Result<StreamEvent, ModelError>>,
    seen_event: bool,
    done: bool,
}

/// Turns a 200 SSE response into a [`ChatStream`]: the first event must arrive by the first-byte deadline, the
/// last by the total deadline; a body that ends before the decoder saw its final event is
/// [`ModelError::StreamInterrupted`].
pub(crate) fn drive<D: EventDecoder>(
    provider: String,
    response: reqwest::Response,
    decoder: D,
    deadlines: Deadlines,
) -> ChatStream {
    let driver = Driver {
        provider,
        response,
        sse: SseDecoder::default(),
        decoder,
        deadlines,
        pending: VecDeque::new(),
        seen_event: false,
        done: false,
    };
    futures::stream::unfold(driver, |mut d| async move {
        loop {
            if let Some(item) = d.pending.pop_front() {
                return Some((item, d));
            }
            if d.done {
                return None;
            }
            d.read().await;
        }
    })
    .boxed()
}

impl<D: EventDecoder> Driver<D> {
    /// Reads one chunk and queues what it completes (or the error that ends the stream).
    async fn read(&mut self) {
        let (deadline, phase) =
            if self.seen_event { (self.deadlines.total, TimeoutPhase::Total) } else { self.deadlines.first_byte() };
        let chunk = match tokio::time::timeout_at(deadline, self.response.chunk()).await {
            Err(_) => Err(self.deadlines.timeout(&self.provider, phase)),
            Ok(Err(error)) => {
                Err(ModelError::Connection { provider: self.provider.clone(), message: error.to_string() })
            }
            Ok(Ok(None)) => Err(ModelError::StreamInterrupted { provider: self.provider.clone() }),
            Ok(Ok(Some(bytes))) => Ok(bytes),
        };
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => return self.fail(error),
        };
        let events = match self.sse.feed(&chunk) {
            Ok(events) => events,
            Err(_) => {
                let message = "the event stream is not UTF-8".to_owned();
                return self.fail(ModelError::Protocol { provider: self.provider.clone(), message });
            }
        };
        let mut out = Vec::new();
        for event in events {
            self.seen_event = true;
            let outcome = self.decoder.event(event, &mut out);
            self.pending.extend(out.drain(..).map(Ok));
            match outcome {
                Ok(false) => {}
                // The final event: whatever follows on the wire is ignored.
                Ok(true) => {
                    self.done = true;
                    return;
                }
                Err(error) => return self.fail(error),
            }
        }
    }

    fn fail(&mut self, error: ModelError) {
        self.pending.push_back(Err(error));
        self.done = true;
    }
}
