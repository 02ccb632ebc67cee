//! The function's output: every line of its stdout and stderr goes to `tracing`, and the last
//! ones are kept for error messages.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::task::JoinHandle;

/// Lines longer than this are cut in the kept tail (not in what goes to `tracing`).
const MAX_KEPT_LINE: usize = 8 * 1024;

/// Which output of the process a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    /// Standard output (where `tracing_subscriber::fmt` writes by default).
    Stdout,
    /// Standard error (where panics are printed).
    Stderr,
}

impl LogStream {
    /// `"stdout"` or `"stderr"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// One line the function printed, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The output it was printed to.
    pub stream: LogStream,
    /// The text (invalid UTF-8 replaced, long lines cut at 8 KiB).
    pub line: String,
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.stream.as_str(), self.line)
    }
}

/// The last lines of a function, across its sandboxes (like its log group).
#[derive(Debug, Clone)]
pub(crate) struct LogTail {
    lines: Arc<Mutex<VecDeque<LogLine>>>,
    capacity: usize,
}

impl LogTail {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            lines: Arc::new(Mutex::new(VecDeque::with_capacity(capacity.min(1024)))),
            capacity,
        }
    }

    fn push(&self, line: LogLine) {
        if self.capacity == 0 {
            return;
        }
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        while lines.len() >= self.capacity {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The kept lines, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<LogLine> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Reads `output` line by line until it closes: each line to `tracing` (info, with the
    /// function name and the stream) and to the tail.
    pub(crate) fn capture(
        &self,
        output: impl AsyncRead + Unpin + Send + 'static,
        stream: LogStream,
        function: Arc<str>,
    ) -> JoinHandle<()> {
        let tail = self.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(output);
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                match reader.read_until(b'\n', &mut buffer).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(error) => {
                        tracing::debug!(%function, stream = stream.as_str(), %error, "cannot read the function's output");
                        break;
                    }
                }
                while buffer.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                    buffer.pop();
                }
                let mut line = String::from_utf8_lossy(&buffer).into_owned();
                tracing::info!(target: "local_lambda::function", %function, stream = stream.as_str(), "{line}");
                if line.len() > MAX_KEPT_LINE {
                    let mut end = MAX_KEPT_LINE;
                    while !line.is_char_boundary(end) {
                        end -= 1;
                    }
                    line.truncate(end);
                    line.push('…');
                }
                tail.push(LogLine { stream, line });
            }
        })
    }
}

/// Formats a log tail after an error message: nothing when empty.
pub(crate) fn tail_suffix(lines: &[LogLine]) -> String {
    use fmt::Write as _;
    if lines.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nlast lines of its output:");
    for line in lines {
        let _ = write!(text, "\n  {line}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_last_lines_without_line_endings() {
        let tail = LogTail::new(2);
        let input: &[u8] = b"one\r\ntwo\nthree\n\xffend";
        tail.capture(input, LogStream::Stderr, Arc::from("f"))
            .await
            .unwrap();
        let lines = tail.snapshot();
        assert_eq!(
            lines,
            [
                LogLine {
                    stream: LogStream::Stderr,
                    line: "three".into()
                },
                LogLine {
                    stream: LogStream::Stderr,
                    line: "\u{fffd}end".into()
                },
            ]
        );
        assert_eq!(
            tail_suffix(&lines),
            "\nlast lines of its output:\n  [stderr] three\n  [stderr] \u{fffd}end"
        );
    }

    #[tokio::test]
    async fn cuts_long_lines_at_a_char_boundary() {
        let tail = LogTail::new(10);
        let long = "é".repeat(MAX_KEPT_LINE);
        tail.capture(
            std::io::Cursor::new(long.into_bytes()),
            LogStream::Stdout,
            Arc::from("f"),
        )
        .await
        .unwrap();
        let line = &tail.snapshot()[0].line;
        assert!(line.len() <= MAX_KEPT_LINE + '…'.len_utf8());
        assert!(line.ends_with('…'));
    }
}
