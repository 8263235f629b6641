//! A JSON value that keeps object keys in document order, with the part of `serde_json::Value`'s
//! API the vendored harmony schema converter uses. (This workspace's `serde_json` sorts keys;
//! turning on its `preserve_order` would change key order everywhere else.)

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Map),
}

/// Object entries in document order (a later duplicate key replaces the earlier value).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map(Vec<(String, Json)>);

impl Map {
    pub fn get(&self, k: &str) -> Option<&Json> {
        self.0.iter().find(|(x, _)| x == k).map(|(_, v)| v)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Json)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
    /// A copy without key `k`.
    pub fn without(&self, k: &str) -> Map {
        Map(self.0.iter().filter(|(x, _)| x != k).cloned().collect())
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a String, &'a Json);
    type IntoIter = Box<dyn Iterator<Item = (&'a String, &'a Json)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl Json {
    pub fn get(&self, k: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.get(k),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&Vec<Json>> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn is_string(&self) -> bool {
        matches!(self, Json::String(_))
    }

    pub fn parse(text: &str) -> Result<Json, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Compact JSON, as `serde_json::Value`'s `Display` writes it.
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Number(n) => write!(f, "{n}"),
            Json::String(s) => f.write_str(&serde_json::to_string(s).map_err(|_| fmt::Error)?),
            Json::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Json::Object(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(
                        f,
                        "{}:{v}",
                        serde_json::to_string(k).map_err(|_| fmt::Error)?
                    )?;
                }
                f.write_str("}")
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(V)
    }
}

struct V;

/// Keys of an object below which duplicates are found by scanning.
const SCAN_KEYS: usize = 16;

impl<'de> serde::de::Visitor<'de> for V {
    type Value = Json;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(n)
            .map(Json::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element()? {
            v.push(x);
        }
        Ok(Json::Array(v))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
        let mut m: Vec<(String, Json)> = Vec::new();
        // Past a few keys, duplicates are found by hash: a scan per key is quadratic in the
        // object's size (a 32 MB log line of a million keys would take hours).
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        while let Some((k, v)) = a.next_entry::<String, Json>()? {
            if m.len() == SCAN_KEYS && index.is_empty() {
                index = m
                    .iter()
                    .enumerate()
                    .map(|(i, (x, _))| (x.clone(), i))
                    .collect();
            }
            let found = if m.len() < SCAN_KEYS {
                m.iter().position(|(x, _)| *x == k)
            } else {
                index.get(&k).copied()
            };
            match found {
                Some(i) => m[i].1 = v,
                None => {
                    if m.len() >= SCAN_KEYS {
                        index.insert(k.clone(), m.len());
                    }
                    m.push((k, v));
                }
            }
        }
        Ok(Json::Object(Map(m)))
    }
}
