use super::*;

fn manifest() -> Json {
    json!({
        "metadata": {"project_name": "shop", "generated_at": "2026-12-01T00:00:00Z", "dbt_version": "silt-0.1.0", "invocation_id": "x"},
        "nodes": {
            "model.shop.orders": {
                "resource_type": "model", "name": "orders", "description": "Orders, one row each.\n\nMore text.",
                "columns": {"id": {"name": "id", "description": "The key", "data_type": null}, "note": {"name": "note", "description": "Only in YAML", "data_type": "varchar"}},
                "config": {"materialized": "table", "enabled": true, "tags": ["core"]}, "tags": ["core"],
                "depends_on": {"nodes": ["source.shop.raw.orders"]}, "relation_name": "\"db\".main.orders",
                "raw_code": "select * from {{ source('raw', 'orders') }}", "compiled_code": "select * from raw.orders </script>",
                "original_file_path": "models/orders.sql", "package_name": "shop"
            },
            "test.shop.not_null_orders_id.abc": {
                "resource_type": "test", "name": "not_null_orders_id", "attached_node": "model.shop.orders", "column_name": "id",
                "depends_on": {"nodes": ["model.shop.orders"]}, "config": {"severity": "ERROR"}, "test_metadata": {"name": "not_null", "kwargs": {}}
            },
            "operation.shop.on-run-start": {"resource_type": "operation", "name": "x"}
        },
        "sources": {
            "source.shop.raw.orders": {"resource_type": "source", "name": "orders", "source_name": "raw", "description": "", "columns": {}, "relation_name": "\"db\".raw.orders"}
        }
    })
}

#[test]
fn index_and_chunks_carry_what_pages_show() {
    let catalog = json!({"nodes": {"model.shop.orders": {
        "metadata": {"type": "BASE TABLE"},
        "columns": {"amount": {"name": "amount", "type": "decimal(10,2)", "index": 2}, "ID": {"name": "ID", "type": "bigint", "index": 1}},
        "stats": {"row_count": {"value": 12, "include": true}, "has_stats": {"value": true, "include": false}}
    }}});
    let lineage = json!({"model.shop.orders": {"ID": [{"node": "source.shop.raw.orders", "column": "id"}], "amount": [{"node": "ext.payments", "column": "amt"}]}});
    let status = json!({"nodes": {"test.shop.not_null_orders_id.abc": {"status": "pass", "completed_at": "2026-12-01T00:00:01Z"}}});
    let m = manifest();
    let (index, chunks) = build(&Inputs { manifest: &m, catalog: &catalog, lineage: &lineage, status: &status });
    let nodes = index["nodes"].as_array().unwrap();
    // Models, then sources, then tests; operations are not listed.
    let ids: Vec<&str> = nodes.iter().map(|n| n["i"].as_str().unwrap()).collect();
    assert_eq!(ids, ["model.shop.orders", "source.shop.raw.orders", "test.shop.not_null_orders_id.abc"]);
    let orders = &nodes[0];
    assert_eq!(orders["n"], "orders");
    assert_eq!(orders["d"], "Orders, one row each.");
    assert_eq!(orders["m"], "table");
    assert_eq!(orders["r"], "main.orders");
    assert_eq!(orders["p"], json!([1]));
    // Warehouse order first, then columns only documented.
    assert_eq!(orders["c"], json!(["ID", "amount", "note"]));
    assert_eq!(nodes[1]["n"], "raw.orders");
    assert_eq!(nodes[2]["a"], 0);
    assert_eq!(nodes[2]["s"], "pass");
    let d = &chunks[0]["model.shop.orders"];
    let cols = d["columns"].as_array().unwrap();
    // The YAML description reaches the column whatever its case; the test and the lineage too.
    assert_eq!(cols[0], json!({"name": "ID", "type": "bigint", "description": "The key", "tests": [2], "up": [[1, "id"]]}));
    assert_eq!(cols[1]["up"], json!([["ext.payments", "amt"]]));
    assert_eq!(cols[2]["type"], "varchar");
    assert_eq!(d["stats"], json!({"row_count": 12}));
    assert_eq!(d["config"], json!({"materialized": "table"}));
    assert_eq!(d["table_type"], "BASE TABLE");
}

#[test]
fn the_site_is_written_and_no_text_closes_its_script() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest();
    let empty = json!({});
    let site = write_site(dir.path(), &Inputs { manifest: &m, catalog: &empty, lineage: &empty, status: &empty }).unwrap();
    assert_eq!(site.nodes, 3);
    assert_eq!(site.chunks, 1);
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(html.contains("<title>shop · docs</title>"), "{html}");
    let chunk = std::fs::read_to_string(dir.path().join("data/chunk-0.js")).unwrap();
    assert!(chunk.starts_with("siltChunk(0,JSON.parse(\"") && !chunk.contains("</script>"), "{chunk}");
    // The text inside is the JSON it came from.
    let literal = chunk.trim_start_matches("siltChunk(0,JSON.parse(").trim_end().trim_end_matches("));");
    let text: String = serde_json::from_str(&literal.replace("<\\/", "</")).unwrap();
    let value: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(value["model.shop.orders"]["compiled"], "select * from raw.orders </script>");
    assert!(dir.path().join("docs.js").is_file() && dir.path().join("data/index.js").is_file());
}

#[test]
fn names_sort_as_people_read_them() {
    let mut names = vec!["m10", "m2", "m1", "a", "m02", "m1b", "m1a"];
    names.sort_by(|a, b| natural(a, b));
    assert_eq!(names, ["a", "m1", "m1a", "m1b", "m2", "m02", "m10"]);
}
