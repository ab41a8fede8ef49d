//! The byte-level reader and writer shared by every format silin puts on a
//! wire or in a file (certificates, sync envelopes, bundles). One place owns
//! the rules a hostile input meets: every length is checked against what is
//! left and against a limit before anything is allocated, and every failure
//! names the byte offset where decoding stopped.

/// Why bytes did not decode. Offsets count from the start of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("input ends early at byte {at} while reading {what}")]
    Truncated { at: usize, what: &'static str },
    #[error("{what} is {len} long, over the limit of {max}")]
    TooLong {
        what: &'static str,
        len: u64,
        max: u64,
    },
    #[error("{what} at byte {at} is not valid")]
    Invalid { at: usize, what: &'static str },
    #[error("{0} stray bytes after the end")]
    Trailing(usize),
}

pub type WireResult<T> = Result<T, WireError>;

/// Appends LEB128 varints, length-prefixed byte strings and fixed arrays.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn with_capacity(n: usize) -> Writer {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub fn uint(&mut self, mut v: u64) -> &mut Self {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(byte);
                return self;
            }
            self.buf.push(byte | 0x80);
        }
    }

    /// Signed integers (timestamps) as zigzag varints.
    pub fn int(&mut self, v: i64) -> &mut Self {
        self.uint(((v << 1) ^ (v >> 63)) as u64)
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.uint(b.len() as u64);
        self.raw(b)
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads what [`Writer`] wrote, refusing anything malformed.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn raw(&mut self, n: usize, what: &'static str) -> WireResult<&'a [u8]> {
        let truncated = WireError::Truncated { at: self.pos, what };
        let end = self.pos.checked_add(n).ok_or(truncated.clone())?;
        let s = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(s)
    }

    pub fn array<const N: usize>(&mut self, what: &'static str) -> WireResult<[u8; N]> {
        let s = self.raw(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u8(&mut self, what: &'static str) -> WireResult<u8> {
        Ok(self.raw(1, what)?[0])
    }

    pub fn uint(&mut self, what: &'static str) -> WireResult<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8(what)?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return Err(WireError::Invalid { at: start, what });
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError::Invalid { at: start, what })
    }

    pub fn int(&mut self, what: &'static str) -> WireResult<i64> {
        let u = self.uint(what)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A count or length no larger than `max`.
    pub fn len(&mut self, what: &'static str, max: usize) -> WireResult<usize> {
        let n = self.uint(what)?;
        if n > max as u64 {
            return Err(WireError::TooLong {
                what,
                len: n,
                max: max as u64,
            });
        }
        Ok(n as usize)
    }

    pub fn bytes(&mut self, what: &'static str, max: usize) -> WireResult<&'a [u8]> {
        let n = self.len(what, max)?;
        self.raw(n, what)
    }

    pub fn str(&mut self, what: &'static str, max: usize) -> WireResult<&'a str> {
        let at = self.pos;
        let b = self.bytes(what, max)?;
        std::str::from_utf8(b).map_err(|_| WireError::Invalid { at, what })
    }

    pub fn invalid(&self, what: &'static str) -> WireError {
        WireError::Invalid { at: self.pos, what }
    }

    pub fn finish(&self) -> WireResult<()> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

/// A cell id as 16 bytes on the wire (its text form is 36).
pub fn put_id(w: &mut Writer, id: &str) {
    let u = uuid::Uuid::parse_str(id).unwrap_or_default();
    w.raw(u.as_bytes());
}

pub fn get_id(r: &mut Reader<'_>, what: &'static str) -> WireResult<String> {
    let b = r.array::<16>(what)?;
    Ok(uuid::Uuid::from_bytes(b).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut w = Writer::default();
            w.uint(v);
            let mut r = Reader::new(&w.buf);
            assert_eq!(r.uint("v").unwrap(), v);
            r.finish().unwrap();
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, 1_700_000_000] {
            let mut w = Writer::default();
            w.int(v);
            assert_eq!(Reader::new(&w.buf).int("v").unwrap(), v);
        }
    }

    #[test]
    fn overlong_varint_and_oversized_length_are_refused() {
        let eleven = [0xffu8; 11];
        assert!(matches!(
            Reader::new(&eleven).uint("n"),
            Err(WireError::Invalid { .. })
        ));
        let mut w = Writer::default();
        w.uint(1 << 40);
        assert!(matches!(
            Reader::new(&w.buf).bytes("b", 1024),
            Err(WireError::TooLong { .. })
        ));
        let mut w = Writer::default();
        w.uint(10).raw(&[1, 2]);
        assert!(matches!(
            Reader::new(&w.buf).bytes("b", 1024),
            Err(WireError::Truncated { at: 1, .. })
        ));
    }
}
