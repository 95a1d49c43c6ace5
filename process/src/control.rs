//! The control channel's line protocol: what `isola ps` and `isola kill`
//! ask a running kernel over its second serial port, and how it answers.
//!
//! One request per line (`ps`, `kill SIGNAL PID`); the answer is any number
//! of data lines, then `ok` or `error ERRNO TEXT` on a line of its own. The
//! host is trusted, but the kernel still reads bytes off a wire: a line
//! longer than [`MAX_LINE`] is dropped whole, and anything that does not
//! parse is an error answer, never a fault.
//!
//! Neighbours: the kernel's `control` module (reads the port, runs the
//! request), the host CLI's `control` module (sends it, prints the answer).

use alloc::format;
use alloc::string::String;

/// The longest request line, in bytes (without its newline).
pub const MAX_LINE: usize = 128;

/// The last line of a successful answer.
pub const OK: &str = "ok";

/// A request from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// The process listing.
    Ps,
    /// `kill(pid, signal)` from outside: signal 0 only checks that `pid`
    /// exists, as kill(2) does.
    Kill { signal: u32, pid: u32 },
}

/// Why a request line is refused (the kernel answers `error EINVAL ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    Empty,
    UnknownCommand,
    BadSignal,
    BadPid,
    TooLong,
}

impl BadRequest {
    pub const fn text(self) -> &'static str {
        match self {
            BadRequest::Empty => "empty request",
            BadRequest::UnknownCommand => "unknown request (expected ps or kill)",
            BadRequest::BadSignal => "kill needs a signal number from 0 to 64",
            BadRequest::BadPid => "kill needs a pid from 1 to 4194304",
            BadRequest::TooLong => "request line too long",
        }
    }
}

/// Linux's `pid_max` ceiling.
const PID_MAX: u32 = 4_194_304;

impl Request {
    /// Parses one request line (without its newline; surrounding white
    /// space is ignored).
    pub fn parse(line: &str) -> Result<Request, BadRequest> {
        let mut words = line.split_ascii_whitespace();
        let request = match words.next() {
            None => return Err(BadRequest::Empty),
            Some("ps") => Request::Ps,
            Some("kill") => {
                let signal = words.next().and_then(|w| w.parse::<u32>().ok()).filter(|&s| s <= 64);
                let signal = signal.ok_or(BadRequest::BadSignal)?;
                let pid = words.next().and_then(|w| w.parse::<u32>().ok()).filter(|&p| (1..=PID_MAX).contains(&p));
                Request::Kill { signal, pid: pid.ok_or(BadRequest::BadPid)? }
            }
            Some(_) => return Err(BadRequest::UnknownCommand),
        };
        match words.next() {
            Some(_) => Err(BadRequest::UnknownCommand),
            None => Ok(request),
        }
    }

    /// The request as a line, newline included.
    pub fn encode(&self) -> String {
        match *self {
            Request::Ps => String::from("ps\n"),
            Request::Kill { signal, pid } => format!("kill {signal} {pid}\n"),
        }
    }
}

/// One line of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyLine<'a> {
    Data(&'a str),
    Ok,
    /// `error ERRNO TEXT`: the errno's name and the text.
    Error { errno: &'a str, text: &'a str },
}

impl<'a> ReplyLine<'a> {
    pub fn parse(line: &'a str) -> ReplyLine<'a> {
        let line = line.trim_end_matches(['\r', '\n']);
        if line == OK {
            return ReplyLine::Ok;
        }
        match line.strip_prefix("error ") {
            Some(rest) => {
                let (errno, text) = rest.split_once(' ').unwrap_or((rest, ""));
                ReplyLine::Error { errno, text }
            }
            None => ReplyLine::Data(line),
        }
    }
}

/// The error line of an answer.
pub fn error_line(errno: &str, text: &str) -> String {
    format!("error {errno} {text}")
}

/// Bytes off the wire into request lines, at most [`MAX_LINE`] long: a
/// longer line is dropped whole and reported once, at its newline.
#[derive(Debug)]
pub struct LineBuffer {
    bytes: [u8; MAX_LINE],
    len: usize,
    overflowed: bool,
}

impl Default for LineBuffer {
    fn default() -> Self {
        LineBuffer { bytes: [0; MAX_LINE], len: 0, overflowed: false }
    }
}

/// What one byte completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed<'a> {
    Nothing,
    Line(&'a str),
    Bad(BadRequest),
}

impl LineBuffer {
    pub const fn new() -> Self {
        LineBuffer { bytes: [0; MAX_LINE], len: 0, overflowed: false }
    }

    pub fn push(&mut self, byte: u8) -> Pushed<'_> {
        if byte == b'\n' || byte == b'\r' {
            let len = core::mem::take(&mut self.len);
            if core::mem::take(&mut self.overflowed) {
                return Pushed::Bad(BadRequest::TooLong);
            }
            if len == 0 {
                return Pushed::Nothing;
            }
            return match core::str::from_utf8(&self.bytes[..len]) {
                Ok(line) => Pushed::Line(line),
                Err(_) => Pushed::Bad(BadRequest::UnknownCommand),
            };
        }
        if self.len == MAX_LINE {
            self.overflowed = true;
            self.len = 0;
        }
        if !self.overflowed {
            self.bytes[self.len] = byte;
            self.len += 1;
        }
        Pushed::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_encode_back() {
        assert_eq!(Request::parse("ps"), Ok(Request::Ps));
        assert_eq!(Request::parse("  kill 15 1 "), Ok(Request::Kill { signal: 15, pid: 1 }));
        assert_eq!(Request::parse("kill 0 7"), Ok(Request::Kill { signal: 0, pid: 7 }));
        for r in [Request::Ps, Request::Kill { signal: 9, pid: 42 }] {
            assert_eq!(Request::parse(r.encode().trim_end()), Ok(r));
        }
    }

    #[test]
    fn bad_requests_are_named() {
        assert_eq!(Request::parse(""), Err(BadRequest::Empty));
        assert_eq!(Request::parse("reboot"), Err(BadRequest::UnknownCommand));
        assert_eq!(Request::parse("ps now"), Err(BadRequest::UnknownCommand));
        assert_eq!(Request::parse("kill"), Err(BadRequest::BadSignal));
        assert_eq!(Request::parse("kill 65 1"), Err(BadRequest::BadSignal));
        assert_eq!(Request::parse("kill -9 1"), Err(BadRequest::BadSignal));
        assert_eq!(Request::parse("kill 9"), Err(BadRequest::BadPid));
        assert_eq!(Request::parse("kill 9 0"), Err(BadRequest::BadPid));
        assert_eq!(Request::parse("kill 9 99999999999"), Err(BadRequest::BadPid));
        assert_eq!(Request::parse("kill 9 1 2"), Err(BadRequest::UnknownCommand));
    }

    #[test]
    fn replies_are_classified() {
        assert_eq!(ReplyLine::parse("ok\r\n"), ReplyLine::Ok);
        assert_eq!(ReplyLine::parse("error ESRCH no such process"), ReplyLine::Error { errno: "ESRCH", text: "no such process" });
        assert_eq!(ReplyLine::parse("error EINVAL"), ReplyLine::Error { errno: "EINVAL", text: "" });
        assert_eq!(ReplyLine::parse("    1     0 ..."), ReplyLine::Data("    1     0 ..."));
        assert_eq!(ReplyLine::parse(&error_line("EPERM", "x")), ReplyLine::Error { errno: "EPERM", text: "x" });
    }

    fn feed(buf: &mut LineBuffer, bytes: &[u8]) -> alloc::vec::Vec<Result<String, BadRequest>> {
        let mut out = alloc::vec::Vec::new();
        for &b in bytes {
            match buf.push(b) {
                Pushed::Nothing => {}
                Pushed::Line(l) => out.push(Ok(String::from(l))),
                Pushed::Bad(why) => out.push(Err(why)),
            }
        }
        out
    }

    #[test]
    fn lines_are_cut_at_newlines_and_blank_ones_skipped() {
        let mut buf = LineBuffer::new();
        assert_eq!(feed(&mut buf, b"ps\n\r\nkill 1 2\r\n"), [Ok("ps".into()), Ok("kill 1 2".into())]);
        assert_eq!(feed(&mut buf, b"p"), []);
        assert_eq!(feed(&mut buf, b"s\n"), [Ok("ps".into())]);
    }

    #[test]
    fn an_overlong_or_binary_line_is_dropped_whole_and_the_next_one_works() {
        let mut buf = LineBuffer::new();
        let mut long = alloc::vec![b'x'; 3 * MAX_LINE];
        long.push(b'\n');
        assert_eq!(feed(&mut buf, &long), [Err(BadRequest::TooLong)]);
        assert_eq!(feed(&mut buf, &[0xff, 0xfe, b'\n']), [Err(BadRequest::UnknownCommand)]);
        assert_eq!(feed(&mut buf, b"ps\n"), [Ok("ps".into())]);
        let mut exact = alloc::vec![b'y'; MAX_LINE];
        exact.push(b'\n');
        assert_eq!(feed(&mut buf, &exact).len(), 1);
        assert!(feed(&mut buf, &exact)[0].is_ok());
    }
}
