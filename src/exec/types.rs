//! SQL type names: the one table that seeds (`column_types`), contracts (`data_type`) and
//! casts (unit-test fixtures, re-seeding into an existing table) share, both ways.

use deltalake::arrow::datatypes::DataType;

/// The DataFusion spelling of a SQL type name as a project writes it: Spark's, DuckDB's and
/// Postgres's spellings included. Names it does not know pass through, lower-cased.
pub fn sql_type(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    match lower.as_str() {
        "string" | "text" => "varchar".into(),
        "long" | "int8" => "bigint".into(),
        "short" | "int2" => "smallint".into(),
        "byte" => "tinyint".into(),
        "int4" | "integer" => "int".into(),
        "float8" | "float64" | "double precision" => "double".into(),
        "float4" | "float32" => "real".into(),
        "bool" => "boolean".into(),
        "timestamp_ntz" | "datetime" | "timestamp without time zone" => "timestamp".into(),
        "timestamp_ltz" | "timestamptz" | "timestamp_tz" => "timestamp with time zone".into(),
        _ => lower,
    }
}

/// An Arrow type as SQL names it: what contracts and the catalog show, and what casts use.
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "varchar".into(),
        DataType::Binary | DataType::BinaryView | DataType::LargeBinary => "binary".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::UInt8 => "utinyint".into(),
        DataType::UInt16 => "usmallint".into(),
        DataType::UInt32 => "uint".into(),
        DataType::UInt64 => "ubigint".into(),
        DataType::Float16 => "half".into(),
        DataType::Float32 => "real".into(),
        DataType::Float64 => "double".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Null => "null".into(),
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_other_warehouses() {
        assert_eq!(sql_type("STRING"), "varchar");
        assert_eq!(sql_type("long"), "bigint");
        assert_eq!(sql_type("double precision"), "double");
        assert_eq!(sql_type(" Decimal(10, 2) "), "decimal(10, 2)");
        assert_eq!(sql_type("timestamptz"), "timestamp with time zone");
        assert_eq!(type_name(&DataType::Decimal128(10, 2)), "decimal(10,2)");
        // Every name the table gives back names itself again.
        for t in [DataType::Utf8, DataType::Int64, DataType::Float32, DataType::Boolean, DataType::Date32] {
            assert_eq!(sql_type(&type_name(&t)), type_name(&t));
        }
    }
}
