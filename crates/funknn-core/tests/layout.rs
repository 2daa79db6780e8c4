//! The module graph of funknn-core stays acyclic (docs/architecture.md): no module uses a
//! module that uses it back, directly or through others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`engine::evaluator`) → source file, for every file under `src/`.
fn modules(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            modules(&path, &format!("{prefix}{name}::"), out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let module = match name.as_str() {
                "lib" => continue,
                "mod" => prefix.trim_end_matches("::").to_string(),
                _ => format!("{prefix}{name}"),
            };
            out.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The modules a source file names through `crate::` paths, outside comments and tests.
fn uses(source: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or("");
    let mut found = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || *c == ':')
                .collect();
            let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
            // The longest prefix that is a module.
            if let Some(m) = (1..=parts.len())
                .rev()
                .map(|n| parts[..n].join("::"))
                .find(|m| known.contains(m))
            {
                found.insert(m);
            }
        }
    }
    found
}

#[test]
fn no_module_uses_one_that_uses_it_back() {
    let mut files = BTreeMap::new();
    modules(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        "",
        &mut files,
    );
    assert!(files.len() > 30, "found only {} modules", files.len());
    let known: BTreeSet<String> = files.keys().cloned().collect();
    let graph: BTreeMap<String, BTreeSet<String>> = files
        .iter()
        .map(|(m, src)| {
            let mut u = uses(src, &known);
            // A folder's mod.rs re-exports its children; that is not a dependency edge.
            u.retain(|d| d != m && !d.starts_with(&format!("{m}::")));
            (m.clone(), u)
        })
        .collect();
    // Depth-first search for a back edge.
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, bool>,
        stack: &mut Vec<&'a str>,
    ) {
        state.insert(m, false);
        stack.push(m);
        for d in &graph[m] {
            match state.get(d.as_str()) {
                Some(false) => {
                    let at = stack.iter().position(|s| s == d).unwrap();
                    panic!("module cycle: {} -> {d}", stack[at..].join(" -> "));
                }
                Some(true) => {}
                None => visit(d, graph, state, stack),
            }
        }
        stack.pop();
        state.insert(m, true);
    }
    let mut state = BTreeMap::new();
    for m in graph.keys() {
        if !state.contains_key(m.as_str()) {
            visit(m, &graph, &mut state, &mut Vec::new());
        }
    }
    // The search sees the edges: the engine uses the model, which it runs.
    assert!(graph["engine::evaluator"].contains("model::funknn"));
}
