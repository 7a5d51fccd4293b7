//! Small WAT guests built from text in the tests.

/// `bytes` as a WAT string literal, every byte escaped.
pub fn string(bytes: &[u8]) -> String {
    let mut literal = String::from("\"");
    for byte in bytes {
        literal.push_str(&format!("\\{byte:02x}"));
    }
    literal.push('"');
    literal
}

/// Builds a guest that calls `konnector_v1::<function>(ptr, len)` once per request
/// and exits with the first non-zero status (0 when all succeed).
pub fn call_each(function: &str, requests: &[&str]) -> String {
    let mut data = String::new();
    let mut calls = String::new();
    let mut offset = 1024;
    for request in requests {
        data.push_str(&format!(
            "(data (i32.const {offset}) {})\n",
            string(request.as_bytes())
        ));
        calls.push_str(&format!(
            "(local.set $status (call $f (i32.const {offset}) (i32.const {})))
             (if (local.get $status) (then (call $exit (local.get $status))))\n",
            request.len()
        ));
        offset += request.len() + 16;
    }
    format!(
        r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (import "konnector_v1" "{function}" (func $f (param i32 i32) (result i32)))
            (memory (export "memory") 1)
            {data}
            (func (export "_start") (local $status i32)
              {calls}))"#
    )
}

/// Builds a guest that saves one file with `konnector_v1::file_save` and exits with
/// its status.
pub fn save_file(meta: &str, contents: &[u8]) -> String {
    let data_offset = 1024 + meta.len() + 16;
    format!(
        r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (import "konnector_v1" "file_save" (func $save (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (data (i32.const 1024) {meta_literal})
            (data (i32.const {data_offset}) {contents_literal})
            (func (export "_start")
              (call $exit (call $save (i32.const 1024) (i32.const {meta_len})
                                      (i32.const {data_offset}) (i32.const {contents_len})))))"#,
        meta_literal = string(meta.as_bytes()),
        contents_literal = string(contents),
        meta_len = meta.len(),
        contents_len = contents.len(),
    )
}

/// Builds a guest that sends each request with `konnector_v1::http_fetch` (no
/// body) and exits with the first non-zero status (0 when all succeed).
pub fn fetch_each(requests: &[&str]) -> String {
    let mut data = String::new();
    let mut calls = String::new();
    let mut offset = 1024;
    for request in requests {
        data.push_str(&format!(
            "(data (i32.const {offset}) {})\n",
            string(request.as_bytes())
        ));
        calls.push_str(&format!(
            "(local.set $status (call $fetch (i32.const {offset}) (i32.const {}) (i32.const 0) (i32.const 0)))
             (if (local.get $status) (then (call $exit (local.get $status))))\n",
            request.len()
        ));
        offset += request.len() + 16;
    }
    format!(
        r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (import "konnector_v1" "http_fetch" (func $fetch (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            {data}
            (func (export "_start") (local $status i32)
              {calls}))"#
    )
}
