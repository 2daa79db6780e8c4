//! `--model owner/name[@revision]` from a hub-layout cache with `HF_HUB_OFFLINE=1`: the
//! model loads, and a repo or file that is not there is a clear error with no output.

mod common;
use common::scratch;

use std::path::PathBuf;
use std::process::{Command, Output};

use candle_core::{DType, Device};
use funknn_core::{Config, FunkNN};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pictures/rgb.bmp")
}

/// `funknn upsample` with the hub cache `cache`, offline.
fn upsample(cache: &std::path::Path, model: &str, output: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_funknn"))
        .args(["upsample", example().to_str().unwrap(), "--scale", "2"])
        .args(["--model", model, "-o", output.to_str().unwrap()])
        .env("HF_HUB_CACHE", cache)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap()
}

#[test]
fn upsample_takes_a_hub_repo_id_offline() {
    let dir = scratch("upsample");
    let cache = dir.0.join("hub");
    let commit = "89abcdef0123456789abcdef0123456789abcdef";
    let repo = cache.join("models--someone--grey-model");
    let config = Config {
        channels: 1,
        ..Config::default()
    };
    let (model, _) = FunkNN::random(&config, 1, DType::F32, &Device::Cpu).unwrap();
    model
        .save(repo.join("snapshots").join(commit), DType::F32)
        .unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();

    let out = dir.0.join("out.png");
    let run = upsample(&cache, "someone/grey-model", &out);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.is_file());

    for (model, needle) in [
        ("someone/absent", "someone/absent"),
        ("someone/grey-model@v2", "v2"),
    ] {
        let out = dir.0.join("refused.png");
        let run = upsample(&cache, model, &out);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success());
        assert!(err.contains(needle) && err.contains("config.json"), "{err}");
        assert!(err.contains("HF_HUB_OFFLINE"), "{err}");
        assert!(!out.exists());
    }
    // A snapshot without the weights names the file it lacks.
    std::fs::remove_file(
        repo.join("snapshots")
            .join(commit)
            .join("model.safetensors"),
    )
    .unwrap();
    let run = upsample(&cache, "someone/grey-model", &dir.0.join("no.png"));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("model.safetensors") && err.contains("someone/grey-model"),
        "{err}"
    );
}
