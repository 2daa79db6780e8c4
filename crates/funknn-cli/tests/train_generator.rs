//! `funknn train-generator` end to end on a tiny folder of pictures: the model folder and
//! its records, refusing to overwrite a run, an exact resume, and clean failures.

mod common;
use common::{ok, scratch};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pictures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pictures")
}

fn train(out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_funknn"))
        .args(["train-generator", "--data", pictures().to_str().unwrap()])
        .args([
            "-o",
            out.to_str().unwrap(),
            "--width",
            "0.125",
            "--latent",
            "8",
            "--depth",
            "1",
        ])
        .args(["--batch", "4", "--checkpoint-every", "2", "--seed", "3"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_run_writes_its_generator_and_resumes_exactly() {
    let dir = scratch("run");
    let whole = dir.0.join("whole");
    ok(&train(
        &whole,
        &["--autoencoder-steps", "3", "--flow-steps", "3"],
    ));
    for file in [
        "config.json",
        "model.safetensors",
        "train.json",
        "losses.csv",
        "loss-autoencoder.png",
        "loss-prior.png",
    ] {
        assert!(whole.join(file).is_file(), "{file}");
    }
    assert!(whole.join("preview-000002.png").is_file());
    // The same run again refuses to overwrite it.
    let again = train(&whole, &["--autoencoder-steps", "3", "--flow-steps", "3"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    // Stopped after the autoencoder and one prior step (--flow-steps 1), then extended.
    let parts = dir.0.join("parts");
    ok(&train(
        &parts,
        &["--autoencoder-steps", "3", "--flow-steps", "1"],
    ));
    ok(&train(&parts, &["--resume", "--flow-steps", "3"]));
    let csv = |d: &Path| std::fs::read_to_string(d.join("losses.csv")).unwrap();
    assert_eq!(csv(&parts), csv(&whole));
    let weights = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(
        weights(&parts),
        weights(&whole),
        "a resumed run gives the same weights"
    );
    // The trained generator samples.
    let samples = dir.0.join("samples");
    let gen = whole.to_str().unwrap();
    ok(&Command::new(env!("CARGO_BIN_EXE_funknn"))
        .args([
            "sample",
            "--generator",
            gen,
            "--count",
            "2",
            "-o",
            samples.to_str().unwrap(),
        ])
        .output()
        .unwrap());
    assert!(samples.join("0001.png").is_file());
    // And it is scored on held-out pictures.
    let md = dir.0.join("scores.md");
    let scored = Command::new(env!("CARGO_BIN_EXE_funknn"))
        .args([
            "eval-generator",
            "--generator",
            gen,
            "--data",
            pictures().to_str().unwrap(),
        ])
        .args(["--batch", "3", "--markdown", md.to_str().unwrap()])
        .output()
        .unwrap();
    ok(&scored);
    let table = std::fs::read_to_string(&md).unwrap();
    assert!(
        table.contains("reconstruction SNR (11 test images)"),
        "{table}"
    );
    assert!(table.contains("log-likelihood"), "{table}");
    // A fresh prior for its autoencoder, with noise on the latents, from flags that name
    // another resolution: the source's architecture wins, its autoencoder is kept unchanged.
    let refit = dir.0.join("refit");
    ok(&train(
        &refit,
        &[
            "--autoencoder-from",
            gen,
            "--autoencoder-steps",
            "0",
            "--flow-steps",
            "2",
            "--flow-noise",
            "0.05",
            "--resolution",
            "64",
        ],
    ));
    let tensors = |d: &Path| {
        let bytes = std::fs::read(d.join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut v: Vec<(String, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .map(|(k, t)| (k, t.data().to_vec()))
            .collect();
        v.sort();
        v
    };
    let (a, b) = (tensors(&whole), tensors(&refit));
    assert_eq!(a.len(), b.len());
    for ((ka, va), (kb, vb)) in a.iter().zip(&b) {
        assert_eq!(ka, kb);
        if ka.starts_with("flow.") {
            continue;
        }
        assert_eq!(va, vb, "{ka}: the autoencoder must be the source's");
    }
    assert!(a
        .iter()
        .zip(&b)
        .any(|((k, va), (_, vb))| k.starts_with("flow.") && va != vb));
    let record = std::fs::read_to_string(refit.join("train.json")).unwrap();
    assert!(record.contains("\"flow_noise\": 0.05"), "{record}");
    assert!(record.contains("autoencoder_from"), "{record}");
    // A source that is neither a folder nor a cached hub id is an error before any output.
    let missing = dir.0.join("missing");
    let run = train(
        &missing,
        &["--autoencoder-from", dir.0.join("nope").to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(err.contains("--autoencoder-from"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!missing.join("model.safetensors").exists());
}

#[test]
fn bad_settings_and_data_fail_cleanly() {
    let dir = scratch("bad");
    for (extra, needle) in [
        (&["--resolution", "48"][..], "32, 64 or 128"),
        (&["--width", "0"][..], "width"),
        (&["--batch", "0"][..], "batch"),
        (
            &["--autoencoder-steps", "0", "--flow-steps", "0"][..],
            "no step",
        ),
    ] {
        let out = dir.0.join("out");
        let run = train(&out, extra);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{extra:?}");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.join("model.safetensors").exists());
    }
    let empty = dir.0.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_funknn"))
        .args(["train-generator", "--data", empty.to_str().unwrap(), "-o"])
        .arg(dir.0.join("o2"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("no picture file"));
}
