//! Reading a parsed document (JSON, or TOML seen as JSON) field by field, so every refusal
//! names its file and the dotted path of the field (docs/protocol.md §10, §12).

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::FileError;

/// One JSON object of a file, at `path` inside it; [`Obj::only`] refuses unknown keys.
pub struct Obj<'a> {
    file: &'a Path,
    path: String,
    map: &'a Map<String, Value>,
}

pub type Res<T> = Result<T, FileError>;

/// JSON's name of a value's type, for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Obj<'a> {
    /// The document's top level, which must be an object.
    pub fn root(file: &'a Path, doc: &'a Value) -> Res<Self> {
        match doc {
            Value::Object(map) => Ok(Self::at(file, String::new(), map)),
            other => Err(FileError::new(
                file,
                "",
                format!("is {}, want an object", type_name(other)),
            )),
        }
    }

    fn at(file: &'a Path, path: String, map: &'a Map<String, Value>) -> Self {
        Self { file, path, map }
    }

    pub fn file(&self) -> &'a Path {
        self.file
    }

    /// The dotted path of `key` in this object.
    pub fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// An error about `key` of this object.
    pub fn err(&self, key: &str, message: impl Into<String>) -> FileError {
        FileError::new(self.file, self.field(key), message)
    }

    /// Refuses keys other than `known` (call before reading, so a misspelt key is named
    /// rather than the required key it was meant to be).
    pub fn only(&self, known: &[&str]) -> Res<()> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(self.err(k, "unknown key")),
            None => Ok(()),
        }
    }

    pub fn opt(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    pub fn req(&self, key: &str) -> Res<&'a Value> {
        self.opt(key).ok_or_else(|| self.err(key, "missing"))
    }

    fn want(&self, key: &str, v: &Value, what: &str) -> FileError {
        self.err(key, format!("is {}, want {what}", type_name(v)))
    }

    pub fn str(&self, key: &str) -> Res<&'a str> {
        let v = self.req(key)?;
        v.as_str().ok_or_else(|| self.want(key, v, "a string"))
    }

    /// A non-empty string.
    pub fn text(&self, key: &str) -> Res<&'a str> {
        let s = self.str(key)?;
        if s.is_empty() {
            return Err(self.err(key, "is empty"));
        }
        Ok(s)
    }

    /// An unsigned integer (`true`/`false` and floats are not integers).
    pub fn uint(&self, key: &str) -> Res<u64> {
        let v = self.req(key)?;
        uint_of(v).ok_or_else(|| self.want(key, v, "a non-negative integer"))
    }

    pub fn opt_uint(&self, key: &str) -> Res<Option<u64>> {
        match self.opt(key) {
            None => Ok(None),
            Some(v) => uint_of(v)
                .map(Some)
                .ok_or_else(|| self.want(key, v, "a non-negative integer")),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Res<Option<bool>> {
        match self.opt(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.want(key, v, "a boolean")),
        }
    }

    pub fn opt_str(&self, key: &str) -> Res<Option<&'a str>> {
        match self.opt(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.want(key, v, "a string")),
        }
    }

    pub fn obj(&self, key: &str) -> Res<Obj<'a>> {
        let v = self.req(key)?;
        match v {
            Value::Object(map) => Ok(Self::at(self.file, self.field(key), map)),
            _ => Err(self.want(key, v, "a table/object")),
        }
    }

    pub fn opt_obj(&self, key: &str) -> Res<Option<Obj<'a>>> {
        match self.opt(key) {
            None => Ok(None),
            Some(_) => self.obj(key).map(Some),
        }
    }

    /// An array of objects, each read at `key[i]`.
    pub fn objs(&self, key: &str) -> Res<Vec<Obj<'a>>> {
        let v = self.req(key)?;
        let Value::Array(items) = v else {
            return Err(self.want(key, v, "an array"));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("{}[{i}]", self.field(key));
                match item {
                    Value::Object(map) => Ok(Self::at(self.file, at, map)),
                    other => Err(FileError::new(
                        self.file,
                        at,
                        format!("is {}, want an object", type_name(other)),
                    )),
                }
            })
            .collect()
    }
}

/// A JSON integer >= 0 that fits in u64; `None` for anything else.
pub fn uint_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Lowercase hex of exactly `bytes` bytes.
pub fn hex_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_fields_and_names_their_paths() {
        let doc = json!({"a": {"n": 3, "s": "x", "b": true}, "l": [{"k": 1}, 2]});
        let f = Path::new("f.json");
        let root = Obj::root(f, &doc).unwrap();
        let a = root.obj("a").unwrap();
        assert_eq!(a.uint("n").unwrap(), 3);
        assert_eq!(a.text("s").unwrap(), "x");
        assert_eq!(a.opt_bool("b").unwrap(), Some(true));
        assert_eq!(
            a.uint("s").unwrap_err().to_string(),
            "f.json: a.s: is a string, want a non-negative integer"
        );
        assert_eq!(
            a.uint("b").unwrap_err().field,
            "a.b",
            "a boolean is not an integer"
        );
        assert_eq!(
            a.str("zz").unwrap_err().to_string(),
            "f.json: a.zz: missing"
        );
        assert_eq!(
            root.objs("l")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
            "f.json: l[1]: is an integer, want an object"
        );
        assert_eq!(
            a.only(&["n", "s"]).unwrap_err().to_string(),
            "f.json: a.b: unknown key"
        );
    }

    #[test]
    fn floats_and_negatives_are_not_unsigned_integers() {
        assert_eq!(uint_of(&json!(5.0)), None);
        assert_eq!(uint_of(&json!(-1)), None);
        assert_eq!(uint_of(&json!(7)), Some(7));
    }

    #[test]
    fn hex_must_be_lowercase_and_exact() {
        assert_eq!(hex_bytes::<2>("0aff"), Some([0x0a, 0xff]));
        assert_eq!(hex_bytes::<2>("0AFF"), None);
        assert_eq!(hex_bytes::<2>("0aff00"), None);
        assert_eq!(hex_bytes::<2>("zzzz"), None);
    }
}
