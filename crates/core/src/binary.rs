//! Tessera's length-prefixed binary framing, shared by the LEGACY payload codec, PartyInfo and
//! the privacy-group record.
//!
//! Every length or count is an 8-byte big-endian signed Java `long`. `FIELD(x)` is
//! `len(x) ‖ x`; `ARRAY(xs)` is `count ‖ FIELD(x1) ‖ … ‖ FIELD(xn)`.
//!
//! The [`Reader`] never trusts a prefix: a length larger than what remains is an error before
//! anything is allocated, and counts are only ever used to drive a loop that reads (and so
//! bounds-checks) each element.

/// Why a binary structure could not be decoded. Every variant names the field it was reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    /// The input ended inside a length prefix or a field.
    #[error("{field}: input ends after {remaining} more bytes, {needed} needed")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length or count prefix was negative.
    #[error("{field}: negative length {declared}")]
    NegativeLength {
        /// The field being read.
        field: &'static str,
        /// The declared value.
        declared: i64,
    },
    /// A length prefix was larger than Java's `Math.toIntExact` allows.
    #[error("{field}: length {declared} exceeds 2^31-1")]
    LengthTooLarge {
        /// The field being read.
        field: &'static str,
        /// The declared value.
        declared: i64,
    },
}

/// Java's `Math.toIntExact` bound, which Tessera applies to every length.
const MAX_JAVA_LENGTH: i64 = i32::MAX as i64;

/// A cursor over Tessera binary data.
#[derive(Debug)]
pub struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    /// Whether any bytes remain.
    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// Reads one 8-byte big-endian length or count, rejecting negative and over-large values.
    pub fn length(&mut self, field: &'static str) -> Result<usize, BinaryError> {
        let raw = self.take(field, 8)?;
        let declared = i64::from_be_bytes(raw.try_into().expect("took exactly 8 bytes"));
        if declared < 0 {
            return Err(BinaryError::NegativeLength { field, declared });
        }
        if declared > MAX_JAVA_LENGTH {
            return Err(BinaryError::LengthTooLarge { field, declared });
        }
        Ok(declared as usize)
    }

    /// Reads `FIELD(x)` and returns `x`, borrowed from the input.
    pub fn field(&mut self, field: &'static str) -> Result<&'a [u8], BinaryError> {
        let len = self.length(field)?;
        self.take(field, len)
    }

    /// Reads `ARRAY(xs)`. The count only drives the loop; each element is bounds-checked as it
    /// is read, so a huge count fails at the first missing element instead of allocating.
    pub fn array(&mut self, field: &'static str) -> Result<Vec<&'a [u8]>, BinaryError> {
        let count = self.length(field)?;
        let mut items = Vec::with_capacity(count.min(self.input.len() / 8));
        for _ in 0..count {
            items.push(self.field(field)?);
        }
        Ok(items)
    }

    fn take(&mut self, field: &'static str, len: usize) -> Result<&'a [u8], BinaryError> {
        if len > self.input.len() {
            return Err(BinaryError::Truncated {
                field,
                needed: len as u64,
                remaining: self.input.len(),
            });
        }
        let (taken, rest) = self.input.split_at(len);
        self.input = rest;
        Ok(taken)
    }
}

/// Builds Tessera binary data.
#[derive(Debug, Default)]
pub struct Writer {
    output: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `capacity` bytes, so a payload of megabytes is written
    /// into one allocation instead of being copied at every doubling.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            output: Vec::with_capacity(capacity),
        }
    }

    /// Writes an 8-byte big-endian length or count.
    pub fn length(&mut self, len: usize) -> &mut Self {
        self.output.extend_from_slice(&(len as u64).to_be_bytes());
        self
    }

    /// Writes `FIELD(bytes)`.
    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.length(bytes.len());
        self.output.extend_from_slice(bytes);
        self
    }

    /// Writes `ARRAY(items)`.
    pub fn array<I, B>(&mut self, items: I) -> &mut Self
    where
        I: IntoIterator<Item = B>,
        I::IntoIter: ExactSizeIterator,
        B: AsRef<[u8]>,
    {
        let items = items.into_iter();
        self.length(items.len());
        for item in items {
            self.field(item.as_ref());
        }
        self
    }

    /// The bytes written so far.
    pub fn finish(self) -> Vec<u8> {
        self.output
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_beyond_the_input_is_an_error_not_an_allocation() {
        let mut input = (i32::MAX as u64).to_be_bytes().to_vec();
        input.extend_from_slice(b"abc");
        let err = Reader::new(&input).field("cipherText").unwrap_err();
        assert_eq!(
            err,
            BinaryError::Truncated {
                field: "cipherText",
                needed: i32::MAX as u64,
                remaining: 3
            }
        );
    }

    #[test]
    fn negative_and_oversized_lengths_are_rejected() {
        let negative = (-1i64).to_be_bytes();
        assert!(matches!(
            Reader::new(&negative).length("x"),
            Err(BinaryError::NegativeLength { declared: -1, .. })
        ));
        let huge = (1i64 << 40).to_be_bytes();
        assert!(matches!(
            Reader::new(&huge).length("x"),
            Err(BinaryError::LengthTooLarge { .. })
        ));
    }

    #[test]
    fn a_huge_array_count_fails_at_the_first_missing_element() {
        let count = (1u64 << 30).to_be_bytes();
        assert!(matches!(
            Reader::new(&count).array("boxes"),
            Err(BinaryError::Truncated { .. })
        ));
    }

    #[test]
    fn writer_and_reader_agree() {
        let mut writer = Writer::new();
        writer.field(b"ab").array([b"c".as_slice(), b"de"]);
        let bytes = writer.finish();
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.field("a").unwrap(), b"ab");
        assert_eq!(reader.array("b").unwrap(), vec![b"c".as_slice(), b"de"]);
        assert!(reader.is_empty());
    }
}
