//! A flat record export read straight into a table: one column per key seen,
//! one row of strings per record row. Reading it this way, rather than as
//! JSON objects, keeps a 150,000-row export cheap (no per-row maps).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashMap;
use std::fmt;

/// The rows of an export, with its columns by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    columns: HashMap<String, usize>,
    /// Each row's cells, by column number (a row may be shorter: blank cells).
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Reads a JSON list of flat objects (values strings, numbers, booleans or null).
    pub fn parse(json: &str) -> Result<Table, String> {
        let mut table = Table::default();
        let mut deserializer = pylantir_plugin_api::serde_json::Deserializer::from_str(json);
        let rows = RowsSeed(&mut table.columns)
            .deserialize(&mut deserializer)
            .and_then(|rows| deserializer.end().map(|_| rows))
            .map_err(|e| e.to_string())?;
        table.rows = rows;
        Ok(table)
    }

    /// The number of the column `name`, if any row has it.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.get(name).copied()
    }

    /// The cell of `row` in `column` ("" when absent).
    pub fn cell(row: &[String], column: Option<usize>) -> &str {
        column
            .and_then(|c| row.get(c))
            .map(String::as_str)
            .unwrap_or_default()
    }
}

struct RowsSeed<'a>(&'a mut HashMap<String, usize>);

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Vec<Vec<String>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Vec<Vec<String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON list of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(row) = seq.next_element_seed(RowSeed(&mut *self.0))? {
            rows.push(row);
        }
        Ok(rows)
    }
}

struct RowSeed<'a>(&'a mut HashMap<String, usize>);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Vec<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record as a flat JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut row = vec![String::new(); self.0.len()];
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let next = self.0.len();
            let column = match self.0.get(key.as_str()) {
                Some(&column) => column,
                None => *self.0.entry(key.as_str().to_string()).or_insert(next),
            };
            if row.len() <= column {
                row.resize(column + 1, String::new());
            }
            row[column] = map.next_value::<Cell>()?.0;
        }
        Ok(row)
    }
}

/// A key, borrowed from the input when it has no escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A cell as text: strings as they are, numbers and booleans printed, null blank.
struct Cell(String);

impl<'de> de::Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CellVisitor;
        impl Visitor<'_> for CellVisitor {
            type Value = Cell;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cell, E> {
                Ok(Cell(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Cell, E> {
                Ok(Cell(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell, E> {
                Ok(Cell(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell, E> {
                Ok(Cell(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cell, E> {
                Ok(Cell(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cell, E> {
                Ok(Cell(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Cell, E> {
                Ok(Cell(String::new()))
            }
        }
        deserializer.deserialize_any(CellVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_their_cells_by_column() {
        let table = Table::parse(
            r#"[{"a": "1", "b": "x"}, {"b": "y", "c": 3, "a": null}, {"d\u0041": true}]"#,
        )
        .unwrap();
        let (a, b, c, d) = (
            table.column("a"),
            table.column("b"),
            table.column("c"),
            table.column("dA"),
        );
        let cells = |row: &[String]| [a, b, c, d].map(|col| Table::cell(row, col).to_string());
        assert_eq!(cells(&table.rows[0]), ["1", "x", "", ""]);
        assert_eq!(cells(&table.rows[1]), ["", "y", "3", ""]);
        assert_eq!(cells(&table.rows[2]), ["", "", "", "true"]);
    }

    #[test]
    fn anything_but_a_list_of_flat_objects_is_refused() {
        assert!(Table::parse(r#"{"error": "x"}"#).is_err());
        assert!(Table::parse(r#"[{"a": {"nested": "1"}}]"#).is_err());
        assert!(Table::parse(r#"[{"a": "1"}"#).is_err());
        assert!(Table::parse(r#"[] trailing"#).is_err());
    }
}
