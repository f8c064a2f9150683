//! The flat record export read row by row while it arrives: each row keeps
//! only the columns asked for, as one string per cell, and is handed over
//! before the next one is read, so memory does not grow with the export.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

/// Why [`read_rows`] stopped.
#[derive(Debug)]
pub enum RowsError {
    /// The text is not a JSON list of flat objects (serde_json's reason).
    NotRows(String),
    /// Reading the text failed.
    Read(io::Error),
    /// The row callback failed, with its message.
    Stopped(String),
}

/// Reads a JSON list of flat objects (values strings, numbers, booleans or
/// null) from `reader` and hands each row to `each` as the cells of
/// `columns`, in that order ("" where the row has no such key). Returns how
/// many rows were read. A leading UTF-8 byte order mark is skipped.
pub fn read_rows<R: Read>(
    reader: R,
    columns: &[String],
    each: &mut dyn FnMut(Vec<String>) -> Result<(), String>,
) -> Result<usize, RowsError> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    if reader
        .fill_buf()
        .map_err(RowsError::Read)?
        .starts_with(b"\xEF\xBB\xBF")
    {
        reader.consume(3);
    }
    let index: HashMap<&str, usize> = columns
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    let mut rows = Rows {
        index: &index,
        width: columns.len(),
        each,
        stopped: None,
        count: 0,
    };
    let mut deserializer = pylantir_plugin_api::serde_json::Deserializer::from_reader(reader);
    let read = (&mut rows)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    match (read, rows.stopped) {
        (Ok(()), _) => Ok(rows.count),
        (Err(_), Some(message)) => Err(RowsError::Stopped(message)),
        (Err(e), None) if e.is_io() => Err(RowsError::Read(io::Error::from(e))),
        (Err(e), None) => Err(RowsError::NotRows(e.to_string())),
    }
}

/// The list: each row read, then handed to `each`.
struct Rows<'a> {
    index: &'a HashMap<&'a str, usize>,
    width: usize,
    each: &'a mut dyn FnMut(Vec<String>) -> Result<(), String>,
    /// The callback's error, when it stopped the reading.
    stopped: Option<String>,
    count: usize,
}

impl<'de> DeserializeSeed<'de> for &mut Rows<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for &mut Rows<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON list of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(row) = seq.next_element_seed(RowSeed {
            index: self.index,
            width: self.width,
        })? {
            self.count += 1;
            if let Err(message) = (self.each)(row) {
                self.stopped = Some(message);
                return Err(de::Error::custom("stopped by the row callback"));
            }
        }
        Ok(())
    }
}

/// One row: the cells of the wanted columns.
struct RowSeed<'a> {
    index: &'a HashMap<&'a str, usize>,
    width: usize,
}

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
        let mut row = vec![String::new(); self.width];
        while let Some(column) = map.next_key_seed(ColumnOf(self.index))? {
            match column {
                Some(column) => row[column] = map.next_value::<Cell>()?.0,
                None => map.next_value::<Unused>().map(drop)?,
            }
        }
        Ok(row)
    }
}

/// A key, read as the number of its wanted column (`None`: not wanted).
struct ColumnOf<'a>(&'a HashMap<&'a str, usize>);

impl<'de> DeserializeSeed<'de> for ColumnOf<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for ColumnOf<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.get(v).copied())
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

/// A cell of a column not wanted: checked to be flat, not kept.
struct Unused;

impl<'de> de::Deserialize<'de> for Unused {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UnusedVisitor;
        impl Visitor<'_> for UnusedVisitor {
            type Value = Unused;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Unused, E> {
                Ok(Unused)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Unused, E> {
                Ok(Unused)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Unused, E> {
                Ok(Unused)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Unused, E> {
                Ok(Unused)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Unused, E> {
                Ok(Unused)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Unused, E> {
                Ok(Unused)
            }
        }
        deserializer.deserialize_any(UnusedVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str, columns: &[&str]) -> Result<Vec<Vec<String>>, RowsError> {
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let mut rows = Vec::new();
        read_rows(json.as_bytes(), &columns, &mut |row| {
            rows.push(row);
            Ok(())
        })?;
        Ok(rows)
    }

    #[test]
    fn rows_keep_the_cells_of_the_wanted_columns_in_their_order() {
        let rows = read(
            r#"[{"a": "1", "b": "x", "z": "unused"}, {"b": "y", "c": 3, "a": null}, {"d\u0041": true}]"#,
            &["a", "b", "c", "dA"],
        )
        .unwrap();
        assert_eq!(rows[0], ["1", "x", "", ""]);
        assert_eq!(rows[1], ["", "y", "3", ""]);
        assert_eq!(rows[2], ["", "", "", "true"]);
    }

    #[test]
    fn anything_but_a_list_of_flat_objects_is_refused() {
        for text in [
            r#"{"error": "x"}"#,
            r#"[{"a": {"nested": "1"}}]"#,
            r#"[{"unused": ["nested"]}]"#,
            r#"[{"a": "1"}"#,
            r#"[] trailing"#,
        ] {
            assert!(
                matches!(read(text, &["a"]), Err(RowsError::NotRows(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        assert_eq!(read("\u{feff}[{\"a\": \"1\"}]", &["a"]).unwrap(), [["1"]]);
    }

    #[test]
    fn a_failing_callback_stops_the_reading_with_its_message() {
        let columns = ["a".to_string()];
        let mut seen = 0;
        let result = read_rows(&br#"[{"a": "1"}, {"a": "2"}]"#[..], &columns, &mut |_| {
            seen += 1;
            Err("full".to_string())
        });
        assert!(matches!(result, Err(RowsError::Stopped(m)) if m == "full"));
        assert_eq!(seen, 1);
    }
}
