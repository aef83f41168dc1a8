//! `silt show`: a query's first rows, as a table (the layout dbt prints), CSV or JSON.

use deltalake::arrow::array::{Array, ArrayRef};
use deltalake::arrow::datatypes::{DataType, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};

use super::ExecError;
use super::session::Session;

/// The rows a preview returned.
#[derive(Debug, Clone)]
pub struct Preview {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// Runs `sql` and keeps the first `limit` rows (all when `limit` is negative).
pub async fn preview(session: &Session, sql: &str, limit: i64) -> Result<Preview, ExecError> {
    let df = session.query(sql).await?;
    let df = if limit >= 0 {
        df.limit(0, Some(limit as usize))?
    } else {
        df
    };
    let schema: SchemaRef = std::sync::Arc::new(df.schema().as_arrow().clone());
    let batches = df
        .collect()
        .await?;
    Ok(Preview { schema, batches })
}

fn cell_strings(array: &ArrayRef) -> Result<Vec<Option<String>>, ExecError> {
    // Timestamps as dbt prints them: a space, not ISO's `T`, and a fraction only when there is one.
    let opts = FormatOptions::default()
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"));
    let f = ArrayFormatter::try_new(array.as_ref(), &opts)
        .map_err(|e| ExecError::execution(e.to_string()))?;
    Ok((0..array.len())
        .map(|i| (!array.is_null(i)).then(|| f.value(i).to_string()))
        .collect())
}

fn is_numeric(t: &DataType) -> bool {
    t.is_numeric()
}

impl Preview {
    /// Every column's cells as text (None for null).
    fn columns(&self) -> Result<Vec<Vec<Option<String>>>, ExecError> {
        let mut cols: Vec<Vec<Option<String>>> = vec![Vec::new(); self.schema.fields().len()];
        for b in &self.batches {
            for (i, c) in b.columns().iter().enumerate() {
                cols[i].extend(cell_strings(c)?);
            }
        }
        Ok(cols)
    }

    pub fn row_count(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The table layout dbt prints: numbers right-aligned with decimals padded,
    /// booleans as True/False, nulls empty.
    pub fn to_table(&self) -> Result<String, ExecError> {
        self.table(false)
    }

    /// The table, then a row of `...` saying there are more rows (dbt's `max_rows`).
    pub fn to_table_with_more(&self) -> Result<String, ExecError> {
        self.table(true)
    }

    fn table(&self, more: bool) -> Result<String, ExecError> {
        let mut cols = self.columns()?;
        let fields = self.schema.fields();
        for (i, f) in fields.iter().enumerate() {
            let t = f.data_type();
            if matches!(t, DataType::Boolean) {
                for c in cols[i].iter_mut().flatten() {
                    *c = if c == "true" {
                        "True".into()
                    } else {
                        "False".into()
                    };
                }
            }
            if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) {
                // As dbt's table printer: at most three decimals, padded to the column's widest.
                for c in cols[i].iter_mut().flatten() {
                    if let Some((_, d)) = c.split_once('.')
                        && d.len() > 3 && !c.contains('e')
                            && let Ok(v) = c.parse::<f64>() {
                                *c = format!("{v:.3}")
                                    .trim_end_matches('0')
                                    .trim_end_matches('.')
                                    .to_owned();
                            }
                }
                let decimals = cols[i]
                    .iter()
                    .flatten()
                    .map(|c| c.split_once('.').map_or(0, |(_, d)| d.len()))
                    .max()
                    .unwrap_or(0);
                for c in cols[i].iter_mut().flatten() {
                    if c.contains('e') || c.contains("inf") || c.contains("NaN") {
                        continue;
                    }
                    let have = c.split_once('.').map_or(0, |(_, d)| d.len());
                    if decimals > 0 && have == 0 {
                        c.push('.');
                    }
                    c.push_str(&"0".repeat(decimals.saturating_sub(have)));
                }
            }
        }
        let widths: Vec<usize> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                cols[i]
                    .iter()
                    .flatten()
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(f.name().chars().count())
                    .max(1)
            })
            .collect();
        let mut out = String::new();
        let pad = |s: &str, w: usize, right: bool| {
            let n = w.saturating_sub(s.chars().count());
            if right {
                format!("{}{s}", " ".repeat(n))
            } else {
                format!("{s}{}", " ".repeat(n))
            }
        };
        let header: Vec<String> = fields
            .iter()
            .zip(&widths)
            .map(|(f, w)| pad(f.name(), *w, false))
            .collect();
        out.push_str(&format!("| {} |\n", header.join(" | ")));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&format!("| {} |\n", rule.join(" | ")));
        for r in 0..self.row_count() {
            let cells: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    pad(
                        cols[i][r].as_deref().unwrap_or(""),
                        widths[i],
                        is_numeric(f.data_type()),
                    )
                })
                .collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        if more {
            let cells: Vec<String> = widths.iter().map(|w| pad("...", *w, false)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        Ok(out)
    }

    pub fn to_csv(&self) -> Result<String, ExecError> {
        let cols = self.columns()?;
        let quote = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        };
        let mut out = String::new();
        let names: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| quote(f.name()))
            .collect();
        out.push_str(&names.join(","));
        out.push('\n');
        for r in 0..self.row_count() {
            let cells: Vec<String> = cols
                .iter()
                .map(|c| c[r].as_deref().map(quote).unwrap_or_default())
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        Ok(out)
    }

    /// The rows as JSON objects, nulls included.
    pub fn to_json_rows(&self) -> Result<Vec<serde_json::Value>, ExecError> {
        use deltalake::arrow::json::WriterBuilder;
        use deltalake::arrow::json::writer::JsonArray;
        let mut w = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, JsonArray>(Vec::new());
        for b in &self.batches {
            w.write(b)?;
        }
        w.finish()?;
        let bytes = w.into_inner();
        let text = if bytes.is_empty() {
            "[]".to_owned()
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Array(rows)) => Ok(rows),
            _ => Ok(Vec::new()),
        }
    }
}
