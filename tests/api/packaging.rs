//! The container files, checked without a Docker engine (none runs here):
//! the Dockerfile's stages and runtime properties, what `.dockerignore`
//! keeps out, and that the compose example only sets real settings.
//! What this cannot check: that the image builds and runs (see the README).

use std::collections::BTreeSet;

const DOCKERFILE: &str = include_str!("../../Dockerfile");
const DOCKERIGNORE: &str = include_str!("../../.dockerignore");
const COMPOSE: &str = include_str!("../../compose.yaml");

/// Instructions as (KEYWORD, arguments), continuation lines joined, comments dropped.
fn instructions() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in DOCKERFILE.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (keyword, args) = current.split_once(char::is_whitespace).unwrap_or((&current, ""));
        out.push((keyword.to_uppercase(), args.trim().to_owned()));
        current.clear();
    }
    out
}

/// The instructions of the final stage.
fn final_stage() -> Vec<(String, String)> {
    let all = instructions();
    let last_from = all.iter().rposition(|(k, _)| k == "FROM").unwrap();
    all[last_from..].to_vec()
}

fn one<'a>(stage: &'a [(String, String)], keyword: &str) -> &'a str {
    let found: Vec<&(String, String)> = stage.iter().filter(|(k, _)| k == keyword).collect();
    assert_eq!(found.len(), 1, "one {keyword} in the final stage");
    &found[0].1
}

fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|_| panic!("exec form (a JSON array), not a shell string: {args}"))
}

#[test]
fn the_dockerfile_is_multi_stage_with_a_front_end_build_and_a_cached_dependency_layer() {
    let all = instructions();
    let froms: Vec<&str> = all.iter().filter(|(k, _)| k == "FROM").map(|(_, a)| a.as_str()).collect();
    assert_eq!(froms.len(), 3, "{froms:?}");
    assert!(froms[0].starts_with("node:") && froms[0].ends_with(" AS assets"));
    assert!(froms[1].starts_with("rust:") && froms[1].ends_with(" AS build"));
    assert!(froms[2].starts_with("gcr.io/distroless/cc-debian12"), "glibc + CA certificates, no shell");
    let runs: Vec<&str> = all.iter().filter(|(k, _)| k == "RUN").map(|(_, a)| a.as_str()).collect();
    assert!(runs.iter().any(|r| r.contains("npm ci")), "the front-end from its lock file");
    assert!(runs.iter().any(|r| r.contains("scripts/build-assets.sh")), "the same build step as the repo");
    // The dependency-only build comes before the sources are copied.
    let dep_build = all
        .iter()
        .position(|(k, a)| k == "RUN" && a.contains("cargo build --release --locked") && a.contains("rm -rf src tests"))
        .unwrap();
    let copy_src = all.iter().position(|(k, a)| k == "COPY" && a == "src src").unwrap();
    let copy_manifest = all.iter().position(|(k, a)| k == "COPY" && a.starts_with("Cargo.toml Cargo.lock")).unwrap();
    assert!(copy_manifest < dep_build && dep_build < copy_src);
}

#[test]
fn the_image_runs_as_non_root_with_a_data_volume_and_a_shell_free_health_check() {
    let stage = final_stage();
    let user = one(&stage, "USER");
    let uid = user.split(':').next().unwrap();
    assert!(uid.parse::<u32>().is_ok_and(|u| u != 0), "a numeric non-root user: {user}");
    let env = one(&stage, "ENV");
    assert!(env.contains("EGX_DATA_DIR=/data"), "{env}");
    assert!(env.contains("EGX_LISTEN=0.0.0.0:8080"), "{env}");
    assert_eq!(exec_form(one(&stage, "VOLUME")), ["/data"]);
    assert_eq!(one(&stage, "EXPOSE"), "8080", "the port of EGX_LISTEN");
    let healthcheck = one(&stage, "HEALTHCHECK");
    let cmd = healthcheck.split_once("CMD ").expect("HEALTHCHECK CMD").1;
    let cmd = exec_form(cmd);
    assert_eq!(cmd, ["/usr/local/bin/egx-portal", "healthcheck"], "the binary itself, no curl, no shell");
    assert!(!healthcheck.contains("CMD-SHELL"));
    let entry = exec_form(one(&stage, "ENTRYPOINT"));
    assert_eq!(entry, ["/usr/local/bin/egx-portal"]);
    assert_eq!(exec_form(one(&stage, "CMD")), ["serve"]);
    let copies: Vec<&str> = stage.iter().filter(|(k, _)| k == "COPY").map(|(_, a)| a.as_str()).collect();
    assert!(
        copies.iter().any(|c| c.ends_with(" /usr/local/bin/egx-portal")),
        "the health check's path is the binary's"
    );
    assert!(
        copies.iter().any(|c| c.contains("--chown=65532:65532") && c.ends_with(" /data")),
        "the volume is writable"
    );
}

#[test]
fn everything_the_dockerfile_copies_exists_and_local_state_stays_out_of_the_context() {
    let ignored: BTreeSet<&str> =
        DOCKERIGNORE.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    for must in [".git", ".tools", "target", "data", "**/node_modules", "*.sqlite*", ".env"] {
        assert!(ignored.contains(must), ".dockerignore keeps out {must}");
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (keyword, args) in instructions() {
        if keyword != "COPY" || args.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = args.split_whitespace().filter(|p| !p.starts_with("--")).collect();
        for source in &parts[..parts.len() - 1] {
            assert!(root.join(source).exists(), "COPY {source}: not in the repository");
            let first = source.split('/').next().unwrap();
            assert!(
                !ignored.contains(first) && !ignored.contains(*source),
                "COPY {source} is excluded by .dockerignore"
            );
        }
    }
}

#[test]
fn the_compose_example_sets_only_real_settings_and_the_portal_needs_its_public_url() {
    let known = egx_portal::config::VARIABLES;
    let mut set = Vec::new();
    for line in COMPOSE.lines() {
        let line = line.trim();
        if let Some((key, _)) = line.split_once(':')
            && (key.starts_with("EGX_") || key.starts_with("AWS_"))
            && !line.starts_with('#')
        {
            set.push(key.to_owned());
        }
    }
    assert!(set.contains(&"EGX_PUBLIC_URL".to_owned()), "the container listens on 0.0.0.0: a public URL is required");
    for key in set.iter().filter(|k| k.starts_with("EGX_")) {
        assert!(known.contains(&key.as_str()), "compose.yaml sets {key}, which is no setting");
    }
}
