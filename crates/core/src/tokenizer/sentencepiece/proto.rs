//! The parts of a SentencePiece `.model` file (a protobuf `ModelProto`, see
//! `sentencepiece_model.proto`) that decide the ids, read by hand: the wire format is small
//! and a generated parser would pull in a code generator for five messages.
//!
//! Every length is checked against the bytes that remain before anything is sliced or
//! allocated, and unknown fields are skipped, as protobuf requires.

/// `ModelProto.SentencePiece.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl PieceType {
    fn from_wire(v: u64) -> Result<Self, String> {
        Ok(match v {
            1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            other => return Err(format!("unknown piece type {other}")),
        })
    }
}

/// `TrainerSpec.ModelType`; only the two the engine implements are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelType {
    Unigram,
    Bpe,
}

#[derive(Debug, Clone)]
pub struct Piece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

/// `TrainerSpec` fields that matter at encoding time (defaults as in the .proto).
#[derive(Debug, Clone)]
pub struct TrainerSpec {
    pub model_type: ModelType,
    pub byte_fallback: bool,
    pub treat_whitespace_as_suffix: bool,
}

/// `NormalizerSpec` (defaults as in the .proto).
#[derive(Debug, Clone)]
pub struct NormalizerSpec {
    pub name: String,
    pub precompiled_charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
}

#[derive(Debug, Clone)]
pub struct ModelProto {
    pub pieces: Vec<Piece>,
    pub trainer: TrainerSpec,
    pub normalizer: NormalizerSpec,
}

/// A cursor over protobuf wire-format bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64,
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| format!("truncated varint at byte {}", self.pos))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("varint longer than 10 bytes at byte {}", self.pos))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(format!(
                "field of {n} bytes at byte {} runs past the end ({left} left)",
                self.pos
            ));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    /// The next field: its number and value.
    fn field(&mut self) -> Result<(u64, Value<'a>), String> {
        let key = self.varint()?;
        let (num, wire) = (key >> 3, key & 7);
        let v = match wire {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let n = self.varint()?;
                Value::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            other => return Err(format!("field {num}: unsupported wire type {other}")),
        };
        Ok((num, v))
    }
}

fn bytes<'a>(what: &str, v: Value<'a>) -> Result<&'a [u8], String> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(format!("{what}: expected a length-delimited field")),
    }
}

fn varint(what: &str, v: Value<'_>) -> Result<u64, String> {
    match v {
        Value::Varint(n) => Ok(n),
        _ => Err(format!("{what}: expected a varint field")),
    }
}

fn string(what: &str, v: Value<'_>) -> Result<String, String> {
    let b = bytes(what, v)?;
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| format!("{what}: not UTF-8"))
}

/// Parses a `.model` file. `max_pieces` bounds the vocabulary before it is collected.
pub fn parse(buf: &[u8], max_pieces: usize) -> Result<ModelProto, String> {
    let mut pieces = Vec::new();
    let mut trainer = None;
    let mut normalizer = None;
    let mut r = Reader::new(buf);
    while !r.done() {
        match r.field()? {
            (1, v) => {
                if pieces.len() >= max_pieces {
                    return Err(format!("more than {max_pieces} pieces"));
                }
                let n = pieces.len();
                pieces
                    .push(parse_piece(bytes("pieces", v)?).map_err(|e| format!("piece {n}: {e}"))?);
            }
            (2, v) => trainer = Some(parse_trainer(bytes("trainer_spec", v)?)?),
            (3, v) => normalizer = Some(parse_normalizer(bytes("normalizer_spec", v)?)?),
            _ => {} // self_test_data, denormalizer_spec: not used for encoding
        }
    }
    if pieces.is_empty() {
        return Err("no pieces: not a SentencePiece model".into());
    }
    Ok(ModelProto {
        pieces,
        trainer: trainer.ok_or("no trainer_spec: not a SentencePiece model")?,
        normalizer: normalizer.unwrap_or_else(default_normalizer),
    })
}

fn parse_piece(buf: &[u8]) -> Result<Piece, String> {
    let mut p = Piece {
        piece: String::new(),
        score: 0.0,
        kind: PieceType::Normal,
    };
    let mut r = Reader::new(buf);
    while !r.done() {
        match r.field()? {
            (1, v) => p.piece = string("piece", v)?,
            (2, Value::Fixed32(f)) => p.score = f32::from_bits(f),
            (2, _) => return Err("score: expected a float".into()),
            (3, v) => p.kind = PieceType::from_wire(varint("type", v)?)?,
            _ => {}
        }
    }
    Ok(p)
}

fn parse_trainer(buf: &[u8]) -> Result<TrainerSpec, String> {
    let mut model_type = 1; // UNIGRAM is the .proto default
    let mut t = TrainerSpec {
        model_type: ModelType::Unigram,
        byte_fallback: false,
        treat_whitespace_as_suffix: false,
    };
    let mut r = Reader::new(buf);
    while !r.done() {
        match r.field()? {
            (3, v) => model_type = varint("trainer_spec.model_type", v)?,
            (24, v) => t.treat_whitespace_as_suffix = varint("treat_whitespace_as_suffix", v)? != 0,
            (35, v) => t.byte_fallback = varint("byte_fallback", v)? != 0,
            _ => {}
        }
    }
    t.model_type = match model_type {
        1 => ModelType::Unigram,
        2 => ModelType::Bpe,
        3 => {
            return Err(
                "trainer_spec.model_type WORD is not supported (BPE and unigram are)".into(),
            )
        }
        4 => {
            return Err(
                "trainer_spec.model_type CHAR is not supported (BPE and unigram are)".into(),
            )
        }
        other => return Err(format!("trainer_spec.model_type {other} is unknown")),
    };
    Ok(t)
}

fn default_normalizer() -> NormalizerSpec {
    NormalizerSpec {
        name: String::new(),
        precompiled_charsmap: Vec::new(),
        add_dummy_prefix: true,
        remove_extra_whitespaces: true,
        escape_whitespaces: true,
    }
}

fn parse_normalizer(buf: &[u8]) -> Result<NormalizerSpec, String> {
    let mut n = default_normalizer();
    let mut r = Reader::new(buf);
    while !r.done() {
        match r.field()? {
            (1, v) => n.name = string("normalizer_spec.name", v)?,
            (2, v) => n.precompiled_charsmap = bytes("precompiled_charsmap", v)?.to_vec(),
            (3, v) => n.add_dummy_prefix = varint("add_dummy_prefix", v)? != 0,
            (4, v) => n.remove_extra_whitespaces = varint("remove_extra_whitespaces", v)? != 0,
            (5, v) => n.escape_whitespaces = varint("escape_whitespaces", v)? != 0,
            _ => {}
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u64, wire: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![];
        let mut key = (num << 3) | wire;
        loop {
            let b = (key & 0x7f) as u8;
            key >>= 7;
            if key == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        if wire == 2 {
            out.push(payload.len() as u8);
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn reads_pieces_specs_and_skips_unknown_fields() {
        let mut piece = field(1, 2, b"ab");
        piece.extend(field(2, 5, &(-1.5f32).to_bits().to_le_bytes()));
        piece.extend(field(3, 0, &[4]));
        piece.extend(field(9, 0, &[1])); // unknown
        let mut model = field(1, 2, &piece);
        model.extend(field(2, 2, &field(3, 0, &[2])));
        model.extend(field(3, 2, &field(3, 0, &[0])));
        model.extend(field(7, 1, &[0; 8])); // unknown fixed64
        let m = parse(&model, 10).unwrap();
        assert_eq!(m.pieces.len(), 1);
        assert_eq!(m.pieces[0].piece, "ab");
        assert_eq!(m.pieces[0].score, -1.5);
        assert_eq!(m.pieces[0].kind, PieceType::UserDefined);
        assert_eq!(m.trainer.model_type, ModelType::Bpe);
        assert!(!m.normalizer.add_dummy_prefix);
        assert!(m.normalizer.remove_extra_whitespaces, "proto default");
    }

    #[test]
    fn truncated_or_oversized_input_is_an_error() {
        let piece = field(1, 2, &field(1, 2, b"ab"));
        assert!(parse(&piece[..piece.len() - 1], 10).is_err());
        assert!(parse(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], 10)
            .unwrap_err()
            .contains("runs past the end"));
        assert!(parse(&[0x80; 12], 10).unwrap_err().contains("varint"));
        let mut two = piece.clone();
        two.extend(&piece);
        assert!(parse(&two, 1).unwrap_err().contains("more than 1 pieces"));
        assert!(parse(&field(1, 3, &[]), 10).is_err(), "group wire type");
    }
}
