//! Just enough JSON to write the `--json` line, so that the CLI needs no serde.

use std::fmt::Write;

/// A JSON object, written field by field.
pub struct Object {
    buf: String,
}

impl Object {
    pub fn new() -> Object {
        Object {
            buf: String::from("{"),
        }
    }

    fn key(&mut self, key: &str) -> &mut String {
        if self.buf.len() > 1 {
            self.buf.push(',');
        }
        string(&mut self.buf, key);
        self.buf.push(':');
        &mut self.buf
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        string(self.key(key), value);
        self
    }

    pub fn uint(&mut self, key: &str, value: u64) -> &mut Self {
        let _ = write!(self.key(key), "{value}");
        self
    }

    /// A number with `decimals` places; `null` for none or for NaN and infinities,
    /// which JSON cannot express.
    pub fn float(&mut self, key: &str, value: Option<f64>, decimals: usize) -> &mut Self {
        let buf = self.key(key);
        match value {
            Some(v) if v.is_finite() => {
                let _ = write!(buf, "{v:.decimals$}");
            }
            _ => buf.push_str("null"),
        }
        self
    }

    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => {
                self.key(key).push_str("null");
                self
            }
        }
    }

    /// A value that is already JSON (a nested object or array).
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key).push_str(json);
        self
    }

    pub fn finish(&mut self) -> String {
        let mut s = std::mem::take(&mut self.buf);
        s.push('}');
        s
    }
}

pub fn array(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    format!("[{}]", items.join(","))
}

/// `s` as a JSON string: quotes, backslashes and control characters escaped.
fn string(buf: &mut String, s: &str) {
    buf.push('"');
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(buf, "\\u{:04x}", u32::from(c));
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json() {
        let inner = Object::new().uint("n", 1).finish();
        let line = Object::new()
            .str("s", "a\"b\\c\n\u{1}é")
            .uint("u", 42)
            .float("f", Some(1.23456), 2)
            .float("nan", Some(f64::NAN), 2)
            .float("none", None, 2)
            .opt_str("o", None)
            .raw("arr", &array([inner.clone(), inner]))
            .finish();
        assert_eq!(
            line,
            r#"{"s":"a\"b\\c\n\u0001é","u":42,"f":1.23,"nan":null,"none":null,"o":null,"arr":[{"n":1},{"n":1}]}"#
        );
    }
}
