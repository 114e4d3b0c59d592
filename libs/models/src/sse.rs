//! A Server-Sent Events decoder (the WHATWG `text/event-stream` rules both providers follow): bytes in, in
//! whatever pieces the network delivers, complete events out. A line may be split across chunks, including in the
//! middle of a UTF-8 character, so bytes are buffered until a line ends.

/// One event: its `event:` name (OpenAI sends none) and its `data:` lines joined by `\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub(crate) event: Option<String>,
    pub(crate) data: String,
}

/// Decoder state between chunks.
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    /// Bytes of a line not yet ended.
    partial: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
}

/// The stream was not UTF-8 text.
#[derive(Debug)]
pub(crate) struct NotUtf8;

impl SseDecoder {
    /// Feeds a chunk; returns the events it completed.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, NotUtf8> {
        let mut events = Vec::new();
        self.partial.extend_from_slice(chunk);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = std::str::from_utf8(&line[..end]).map_err(|_| NotUtf8)?;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(event) = self.line(line) {
                events.push(event);
            }
        }
        Ok(events)
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let data = self.data.take();
            let event = self.event.take();
            return data.map(|data| SseEvent { event, data });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            // `id` and `retry` matter to browsers reconnecting, not to a one-shot call.
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_are_reassembled() {
        let text = "event: ping\ndata: {\"type\": \"ping\"}\n\n: comment\r\ndata: {\"a\":\r\ndata: \"é\"}\r\n\r\ndata: [DONE]\n\n";
        let bytes = text.as_bytes();
        for split in 1..bytes.len() {
            let mut decoder = SseDecoder::default();
            let mut events = decoder.feed(&bytes[..split]).unwrap();
            events.extend(decoder.feed(&bytes[split..]).unwrap());
            assert_eq!(
                events,
                vec![
                    SseEvent { event: Some("ping".into()), data: "{\"type\": \"ping\"}".into() },
                    SseEvent { event: None, data: "{\"a\":\n\"é\"}".into() },
                    SseEvent { event: None, data: "[DONE]".into() },
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic() {
        assert!(SseDecoder::default().feed(b"data: \xff\xfe\n\n").is_err());
    }
}
