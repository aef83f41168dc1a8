//! All terminal output goes through the [`Printer`]: data to standard output, messages and
//! progress to standard error, with dbt's timestamped lines, colours only on a terminal
//! and never under `NO_COLOR`, and nothing but errors under `--quiet`.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub quiet: bool,
    pub color: bool,
}

/// Serializes lines from concurrent workers.
static OUTPUT: Mutex<()> = Mutex::new(());

/// Colours used in output.
#[derive(Debug, Clone, Copy)]
pub enum Paint {
    Green,
    Red,
    Yellow,
}

impl Printer {
    pub fn new(quiet: bool) -> Printer {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = !no_color && std::io::stderr().is_terminal();
        Printer { quiet, color }
    }

    pub fn paint(&self, paint: Paint, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match paint {
            Paint::Green => "32",
            Paint::Red => "31",
            Paint::Yellow => "33",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    fn stamp() -> String {
        chrono::Local::now().format("%H:%M:%S").to_string()
    }

    /// A timestamped progress or log line on standard error (suppressed by `--quiet`).
    pub fn info(&self, line: &str) {
        if self.quiet {
            return;
        }
        self.err_line(line);
    }

    /// A timestamped line on standard error, even under `--quiet` (errors, summaries of
    /// failures).
    pub fn err_line(&self, line: &str) {
        let _guard = OUTPUT.lock().unwrap_or_else(|e| e.into_inner());
        let mut err = std::io::stderr().lock();
        let mut first = true;
        for l in line.split('\n') {
            // dbt prints continuation lines of a message without a timestamp.
            let _ = if first {
                writeln!(err, "{}  {l}", Self::stamp())
            } else {
                writeln!(err, "{l}")
            };
            first = false;
        }
    }

    /// Raw text on standard error (diagnostics), even under `--quiet`.
    pub fn err_raw(&self, text: &str) {
        let _guard = OUTPUT.lock().unwrap_or_else(|e| e.into_inner());
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// Data on standard output. Returns false when the reader has gone away (a broken
    /// pipe), which callers treat as success.
    pub fn out(&self, text: &str) -> bool {
        let _guard = OUTPUT.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .is_ok()
    }
}

/// dbt's progress line: `"{i} of {n} {msg} "` padded with dots to 80 columns, then the
/// status in brackets.
pub fn progress_line(index: usize, total: usize, msg: &str, status: &str) -> String {
    let head = format!("{index} of {total} {msg} ");
    let width = head.chars().count();
    let dots = if width < 80 {
        ".".repeat(80 - width)
    } else {
        String::new()
    };
    format!("{head}{dots} [{status}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_eighty_columns() {
        let line = progress_line(1, 8, "START sql table model main.failing", "RUN");
        assert_eq!(
            line,
            "1 of 8 START sql table model main.failing ...................................... [RUN]"
        );
    }
}
