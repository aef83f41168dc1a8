//! Rendering tests for the Jinja layer.

use std::sync::Arc;

use super::*;

struct FakeResolver;

impl Resolver for FakeResolver {
    fn resolve_ref(
        &self,
        _from: &str,
        _package: Option<&str>,
        name: &str,
        _version: Option<&str>,
    ) -> Result<Relation, ResolveError> {
        if name == "missing" {
            return Err(ResolveError::UnknownModel { name: "missing".into(), suggestion: None });
        }
        Ok(Relation::new("silt", "main", name, RelationKind::Table))
    }
    fn resolve_source(&self, _from: &str, source: &str, table: &str) -> Result<Relation, ResolveError> {
        Ok(Relation::new("silt", source, table, RelationKind::Table))
    }
}

fn templates(macros: &[(&str, &str)]) -> Templates {
    let mut vars = Vars::default();
    vars.project.insert("n".into(), serde_json::json!(3));
    vars.project
        .insert("shop".into(), serde_json::json!({"scoped": "yes"}));
    vars.cli.insert("cli".into(), serde_json::json!("c"));
    let globals = Globals {
        project_name: "shop".into(),
        packages: Vec::new(),
        dispatch: Vec::new(),
        target: serde_json::json!({"name": "dev", "schema": "main", "type": "datafusion", "threads": 4, "database": "silt"}),
        vars,
        invocation_id: "id".into(),
        run_started_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        flags: serde_json::json!({"FULL_REFRESH": false}),
    };
    Templates::new(
        globals,
        macros
            .iter()
            .map(|(f, s)| (f.to_string(), s.to_string(), "shop".to_owned()))
            .collect(),
    )
    .unwrap()
}

fn node(phase: Phase) -> Arc<NodeContext> {
    let mut n = NodeContext::new(phase, Arc::new(FakeResolver));
    n.this = Some(Relation::new("silt", "main", "me", RelationKind::Table));
    n.config
        .insert("materialized".into(), serde_json::json!("view"));
    Arc::new(n)
}

#[test]
fn refs_sources_config_and_vars() {
    let t = templates(&[]);
    let n = node(Phase::Parse);
    let out = t
        .render(
            "models/m.sql",
            "{{ config(materialized='table', tags=['a']) }}select * from {{ ref('a') }} join {{ source('raw', 'b') }} where x < {{ var('n') }} and '{{ var('scoped') }}{{ var('cli') }}' = {{ this }} -- {{ config.get('materialized') }} {{ var('nope', 'dflt') }}",
            Some(n.clone()),
        )
        .unwrap();
    assert_eq!(
        out,
        r#"select * from "main"."a" join "raw"."b" where x < 3 and 'yesc' = "main"."me" -- table dflt"#
    );
    let cap = n.take_captured();
    assert_eq!(cap.refs[0].name, "a");
    assert_eq!(cap.sources, vec![("raw".to_owned(), "b".to_owned())]);
    assert_eq!(cap.configs.len(), 1);
}

#[test]
fn macros_with_defaults_return_and_dispatch() {
    let t = templates(&[(
        "macros/m.sql",
        "{% macro cents(col, scale=100) %}({{ col }} / {{ scale }}){% endmacro %}\n{% macro pick(x) %}{{ return([x, x * 2]) }}{% endmacro %}\n{% macro default__thing() %}generic{% endmacro %}\n{% macro uses_sibling() %}{{ cents('y') }}{% endmacro %}",
    )]);
    let out = t
        .render(
            "models/m.sql",
            "{{ cents('amount') }} {{ cents('a', scale=10) }} {{ pick(2)[1] }} {{ adapter.dispatch('thing')() }} {{ uses_sibling() }} {{ dbt.type_string() }} {{ shop.cents('z') }}",
            Some(node(Phase::Compile)),
        )
        .unwrap();
    assert_eq!(
        out,
        "(amount / 100) (a / 10) 4 generic (y / 100) varchar (z / 100)"
    );
}

#[test]
fn loops_set_and_whitespace_control() {
    let t = templates(&[]);
    let src = "{% set cols = ['a', 'b', 'c'] %}select\n{%- for c in cols %}\n  {{ c | upper }}{% if not loop.last %},{% endif %}\n{%- endfor %}";
    assert_eq!(
        t.render("m.sql", src, Some(node(Phase::Compile))).unwrap(),
        "select\n  A,\n  B,\n  C"
    );
}

#[test]
fn undefined_names_are_empty_and_their_attributes_errors_with_lines() {
    let t = templates(&[]);
    // As with dbt's Jinja: a name never set prints as nothing, loops as empty, is false.
    let src = "select 1 {{ gb }}{% for c in cols %}{{ c }}{% endfor %}{% if flag %}x{% endif %}";
    assert_eq!(t.render("models/m.sql", src, Some(node(Phase::Compile))).unwrap(), "select 1 ");
    // Reading an attribute of it is an error, at its line.
    let err = t
        .render(
            "models/m.sql",
            "select 1\nfrom {{ nope.table }}",
            Some(node(Phase::Compile)),
        )
        .unwrap_err();
    assert_eq!(err.message, "`nope.table` is undefined");
    assert_eq!(err.line, Some(2));
    let d = err.to_diagnostic("models/m.sql", "select 1\nfrom {{ nope.table }}", &|_| None);
    insta::assert_snapshot!(d.render(false), @r"
    error: `nope.table` is undefined
     --> models/m.sql:2:9
      |
    2 | from {{ nope.table }}
      |         ^^^^^^^^^^
    ");
}

#[test]
fn ref_errors_point_at_the_call() {
    let t = templates(&[]);
    let err = t
        .render(
            "models/m.sql",
            "select *\nfrom {{ ref('missing') }}",
            Some(node(Phase::Parse)),
        )
        .unwrap_err();
    assert_eq!(err.message, "`ref` to unknown model `missing`");
    assert_eq!(err.line, Some(2));
}

#[test]
fn errors_inside_macros_name_the_macro_file() {
    let t = templates(&[(
        "macros/bad.sql",
        "{% macro bad() %}\n{{ exceptions.raise_compiler_error('boom') }}\n{% endmacro %}",
    )]);
    let err = t
        .render(
            "models/m.sql",
            "select {{ bad() }}",
            Some(node(Phase::Compile)),
        )
        .unwrap_err();
    assert_eq!(err.message, "boom");
    assert_eq!(err.template.as_deref(), Some("macros/bad.sql"));
    assert_eq!(err.line, Some(2));
}

#[test]
fn is_incremental_only_in_compile_phase() {
    let t = templates(&[]);
    let mut n = NodeContext::new(Phase::Parse, Arc::new(FakeResolver));
    n.is_incremental = true;
    let src = "{% if is_incremental() %}inc{% else %}full{% endif %}";
    assert_eq!(t.render("m.sql", src, Some(Arc::new(n))).unwrap(), "full");
    let mut n = NodeContext::new(Phase::Compile, Arc::new(FakeResolver));
    n.is_incremental = true;
    assert_eq!(t.render("m.sql", src, Some(Arc::new(n))).unwrap(), "inc");
}

#[test]
fn call_macro_returns_values() {
    let t = templates(&[]);
    let v = t
        .call_macro(
            "generate_schema_name",
            vec![serde_json::json!("staging"), serde_json::Value::Null],
            None,
        )
        .unwrap();
    assert_eq!(v, serde_json::json!("main_staging"));
    let v = t
        .call_macro(
            "generate_schema_name",
            vec![serde_json::Value::Null, serde_json::Value::Null],
            None,
        )
        .unwrap();
    assert_eq!(v, serde_json::json!("main"));
}

#[test]
fn python_string_and_dict_methods() {
    let t = templates(&[]);
    let src = "{{ 'a,b'.split(',') | join('|') }} {{ ' x '.strip() }} {{ {'k': 1}.get('k') }} {{ {'k': 1}.get('z', 5) }} {% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}";
    assert_eq!(
        t.render("m.sql", src, Some(node(Phase::Compile))).unwrap(),
        "a|b x 1 5 a=1"
    );
}

/// dbt_utils' `_is_relation`, verbatim: relations pass it, strings do not.
#[test]
fn relations_are_mappings_as_dbt_utils_checks() {
    let t = templates(&[(
        "macros/is_relation.sql",
        "{% macro _is_relation(obj, macro) %}{%- if not (obj is mapping and obj.get('metadata', {}).get('type', '').endswith('Relation')) -%}{%- do exceptions.raise_compiler_error(\"Macro \" ~ macro ~ \" expected a Relation but received the value: \" ~ obj) -%}{%- endif -%}{% endmacro %}",
    )]);
    let out = t
        .render(
            "models/m.sql",
            "{% do _is_relation(ref('a'), 'star') %}{% do _is_relation(source('raw', 'b'), 'star') %}{{ ref('a') }} {{ ref('a').get('identifier') }} {{ ref('a').get('nope', 'x') }} {{ ref('a') is mapping }}",
            Some(node(Phase::Compile)),
        )
        .unwrap();
    assert_eq!(out, r#""main"."a" a x True"#);
    let err = t
        .render("models/m.sql", "{% do _is_relation('main.a', 'star') %}", Some(node(Phase::Compile)))
        .unwrap_err();
    assert!(err.message.contains("Macro star expected a Relation but received the value: main.a"), "{}", err.message);
}

/// dbt's `set`/`zip` give `default` where Python raises; `set_strict`/`zip_strict` raise;
/// `diff_of_two_dicts` and `try_or_compiler_error` as dbt's context has them.
#[test]
fn dbt_context_helpers() {
    let t = templates(&[]);
    let render = |src: &str| t.render("models/m.sql", src, Some(node(Phase::Compile)));
    assert_eq!(render("{{ set([1, 2, 1]) }} {{ set(3) }} {{ set(3, default='d') }}").unwrap(), "[1, 2] None d");
    assert_eq!(render("{{ zip([1, 2], ['a', 'b']) }} {{ zip(1, [2]) }}").unwrap(), "[[1, 'a'], [2, 'b']] None");
    assert!(render("{{ set_strict(3) }}").is_err());
    assert!(render("{{ zip_strict(1, [2]) }}").is_err());
    assert_eq!(
        render("{{ diff_of_two_dicts({'select': ['A', 'b'], 'insert': ['c']}, {'SELECT': ['a']}) }}").unwrap(),
        "{'select': ['b'], 'insert': ['c']}"
    );
    assert_eq!(render("{{ try_or_compiler_error('bad', fromjson, '[1]') }}").unwrap(), "[1]");
    let err = render("{{ try_or_compiler_error('not a list', set_strict, 3) }}").unwrap_err();
    assert!(err.message.contains("not a list"), "{}", err.message);
    // As dbt's, `fromjson` and `fromyaml` give their default for text that does not parse.
    assert_eq!(render("{{ fromjson('{') }} {{ fromjson('{', []) }} {{ fromyaml('[') }}").unwrap(), "None [] None");
}

/// dbt's `exceptions.*` with dbt's messages.
#[test]
fn exceptions_say_what_dbts_say() {
    let t = templates(&[]);
    let err = |src: &str| t.render("models/m.sql", src, Some(node(Phase::Compile))).unwrap_err().message;
    let m = err("{{ exceptions.missing_config(model, 'unique_key') }}");
    assert!(m.contains("does not define a required config parameter 'unique_key'."), "{m}");
    assert!(err("{{ exceptions.missing_relation(ref('a')) }}").contains(r#"Relation "main"."a" not found!"#));
    assert!(err("{{ exceptions.relation_wrong_type(ref('a'), 'view') }}").contains(r#"Trying to create view "main"."a", but it currently exists as a table."#));
    assert!(err("{{ exceptions.raise_fail_fast_error('stop') }}").contains("stop"));
    assert!(err("{{ exceptions.column_type_missing(['id']) }}").contains("the YAML configuration for the ['id'] column(s)."));
}

#[test]
fn macros_change_lists_and_dicts_in_place() {
    // dbt_utils' way: a macro collects into a list and a dict, a model uses both.
    let t = templates(&[(
        "macros/cols.sql",
        "{% macro cols(names) %}{% set out = [] %}{% set seen = {} %}\
         {% for n in names %}{% if n not in seen %}{% do out.append(n | upper) %}\
         {% do seen.update({n: loop.index}) %}{% endif %}{% endfor %}\
         {{ return((out, seen)) }}{% endmacro %}",
    )]);
    let src = "{% set r = cols(['a', 'b', 'a']) %}{{ r[0] | join(',') }} {{ r[1].b }}";
    assert_eq!(t.render("m.sql", src, Some(node(Phase::Compile))).unwrap(), "A,B 2");
    // Vars (and config values, fromjson, fromyaml) come as lists and dicts that change.
    assert_eq!(
        t.render("m.sql", "{% set v = var('shop') %}{% do v.update({'x': 1}) %}{{ v.x }}{{ fromjson('[1]') + [2] }}", Some(node(Phase::Compile)))
            .unwrap(),
        "1[1, 2]"
    );
    // A value from another function stays immutable, and the error says how to copy it.
    let err = t
        .render("m.sql", "{% set v = modules.re.findall('a', 'aa') %}{% do v.append('b') %}", Some(node(Phase::Compile)))
        .unwrap_err();
    assert!(err.message.contains("cannot mutate"), "{}", err.message);
    assert!(err.help.as_deref().unwrap_or("").contains("|list"), "{:?}", err.help);
    // An undefined name after a literal on the same line is named from the original text.
    let err = t
        .render("m.sql", "{% set x = [1, 2] %}{{ x }}{{ nope.a }}", Some(node(Phase::Compile)))
        .unwrap_err();
    assert_eq!(err.message, "`nope.a` is undefined");
}

#[test]
fn undefined_attributes_in_macros_are_named_from_the_macro() {
    let t = templates(&[(
        "macros/m.sql",
        "{% macro first() %}select 1{% endmacro %}\n\n{% macro second(a) %}\n  {%- set cols = [] -%}\n  select {{ cols | join(',') }} {{ nope.column }}\n{% endmacro %}",
    )]);
    let err = t.render("models/x.sql", "{{ second(1) }}", Some(node(Phase::Compile))).unwrap_err();
    assert_eq!(err.message, "`nope.column` is undefined");
    assert_eq!(err.template.as_deref(), Some("macros/m.sql"));
    assert_eq!(err.line, Some(5));
}

#[test]
fn macros_reading_kwargs_and_varargs_take_extra_arguments() {
    let t = templates(&[(
        "macros/m.sql",
        "{% macro kw(a, b=2) %}{{ a }}{{ b }}:{{ kwargs.get('at_least', 'none') }}:{{ varargs | join(',') }}{% endmacro %}\n\
         {% macro strict(a) %}{{ a }}{% endmacro %}",
    )]);
    let render = |src: &str| t.render("models/x.sql", src, Some(node(Phase::Compile)));
    assert_eq!(render("{{ kw(1, at_least=0.9) }}").unwrap(), "12:0.9:");
    assert_eq!(render("{{ kw(1, 3, 4, 5, b=7) }}").unwrap_err().message.contains("b"), true);
    assert_eq!(render("{{ kw(1, 3, 4, 5) }}").unwrap(), "13:none:4,5");
    // A macro that reads neither rejects what it does not take, as Jinja does.
    assert!(render("{{ strict(1, at_least=2) }}").is_err());
}

#[test]
fn an_undefined_attribute_is_named_with_what_it_is_read_from() {
    let t = templates(&[]);
    let err = t
        .render("models/m.sql", "select {{ modules.nothing.attr }}", Some(node(Phase::Compile)))
        .unwrap_err();
    assert!(err.message.starts_with("`modules.nothing"), "{}", err.message);
}

#[test]
fn another_packages_macro_name_is_unset_in_a_node_as_in_dbt() {
    let base = templates(&[]);
    let mut globals = base.globals().clone();
    globals.packages.push("pkg".into());
    let t = Templates::new(
        globals,
        vec![
            ("dbt_packages/pkg/macros/m.sql".to_owned(), "{% macro group_by(n) %}group by {{ n }}{% endmacro %}\n{% macro show() %}{{ 'set' if group_by else 'unset' }}{% endmacro %}\n{% macro zip(a) %}pkg zip{% endmacro %}".to_owned(), "pkg".to_owned()),
        ],
    )
    .unwrap();
    let render = |src: &str| t.render("models/m.sql", src, Some(node(Phase::Compile)));
    // Read as a variable, `group_by` is unset: false, empty, printed as nothing, undefined.
    assert_eq!(
        render("{{ pkg.show() }}|{% for x in group_by %}x{% endfor %}|{{ group_by }}|{{ group_by is defined }}|{{ group_by | default('none') }}").unwrap(),
        "unset|||False|none"
    );
    // Called bare, it names the package to call it by; called by its package, it runs.
    let err = render("{{ group_by(1) }}").unwrap_err();
    assert!(err.message.contains("package `pkg` defines it") && err.message.contains("`pkg.group_by`"), "{}", err.message);
    assert_eq!(render("{{ pkg.group_by(1) }}").unwrap(), "group by 1");
    // Jinja's `default`: by position or by name, `boolean` replacing false values too.
    assert_eq!(
        render("{{ '' | default('a', boolean=true) }}{{ '' | default('b', true) }}{{ nope | d('c') }}{{ nope | default(default_value='e') }}{{ 'f' | default('g') }}{{ '' | default('h') }}").unwrap(),
        "abcef"
    );
    // A package's macro named as one of Silt's own globals does not hide it.
    assert_eq!(render("{{ zip([1], [2]) | list | length }}").unwrap(), "1");
}

#[test]
fn a_syntax_error_in_a_later_macro_names_its_own_line() {
    let base = templates(&[]);
    let err = Templates::new(
        base.globals().clone(),
        vec![(
            "macros/two.sql".to_owned(),
            "{% macro first() %}\nselect 1\n{% endmacro %}\n{% macro second() %}\n  {% set xs = [1, 2] %}select {{ xs + }}\n{% endmacro %}\n".to_owned(),
            "shop".to_owned(),
        )],
    )
    .err()
    .expect("a syntax error");
    let d = &err[0];
    let span = d.span.as_ref().expect("a place");
    assert_eq!((span.file.as_str(), span.line), ("macros/two.sql", 5), "{}", d.render(false));
    assert!(span.column > 20, "{}", d.render(false));
}

#[test]
fn relations_are_dict_keys_told_apart_by_name() {
    // dbt_utils' union_relations keys a dict by relation.
    let t = templates(&[]);
    let src = "{% set d = {} %}{% do d.update({ref('a'): ['x']}) %}{% do d.update({ref('b'): []}) %}{{ d | length }} {{ d[ref('b')] | length }} {{ d[ref('a')] }} {{ ref('a') == ref('a') }}";
    assert_eq!(t.render("m.sql", src, Some(node(Phase::Compile))).unwrap(), "2 0 ['x'] True");
    // Python's `split` gives a list that changes.
    assert_eq!(
        t.render("m.sql", "{% set p = 'a.b'.split('.') %}{% do p.append('c') %}{{ p | join('-') }}", Some(node(Phase::Compile))).unwrap(),
        "a-b-c"
    );
}
