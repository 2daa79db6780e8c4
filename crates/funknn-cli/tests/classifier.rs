//! `funknn train-classifier` and the Fréchet distance of `funknn eval-generator`, end to end
//! on a tiny data set in Fashion-MNIST's IDX format (written here).

mod common;
use common::{funknn, ok, scratch};

use std::path::Path;

fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut bytes = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

/// `n` 28² images of two classes: a bright block on the left (0) or on the right (1).
fn write_split(dir: &Path, prefix: &str, n: usize) {
    let mut images = vec![0u8; n * 28 * 28];
    let labels: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
    for (i, &label) in labels.iter().enumerate() {
        let x0 = if label == 0 { 4 } else { 16 };
        for y in 6..22 {
            for x in x0..x0 + 8 {
                images[i * 784 + y * 28 + x] = 120 + ((i * 13 + x * 7 + y) % 120) as u8;
            }
        }
    }
    write_idx(
        &dir.join(format!("{prefix}-images-idx3-ubyte")),
        &[n as u32, 28, 28],
        &images,
    );
    write_idx(
        &dir.join(format!("{prefix}-labels-idx1-ubyte")),
        &[n as u32],
        &labels,
    );
}

#[test]
fn a_classifier_trains_and_scores_a_generator() {
    let dir = scratch("classifier");
    let data = dir.0.join("idx");
    std::fs::create_dir_all(&data).unwrap();
    write_split(&data, "train", 48);
    write_split(&data, "t10k", 24);
    let d = data.to_str().unwrap();
    let c = dir.0.join("classifier");
    let cs = c.to_str().unwrap();
    let train = [
        "train-classifier",
        "--data",
        d,
        "-o",
        cs,
        "--epochs",
        "3",
        "--batch",
        "8",
    ];
    ok(&funknn(&train));
    for file in [
        "config.json",
        "model.safetensors",
        "train.json",
        "losses.csv",
    ] {
        assert!(c.join(file).is_file(), "{file}");
    }
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.join("train.json")).unwrap()).unwrap();
    let accuracy = record["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.9, "two blocks apart are easy: {accuracy}");
    // It does not overwrite a classifier.
    let again = funknn(&train);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a model"));
    // A tiny generator on the same data, scored with the classifier's features.
    let g = dir.0.join("generator");
    let gs = g.to_str().unwrap();
    ok(&funknn(&[
        "train-generator",
        "--data",
        d,
        "-o",
        gs,
        "--width",
        "0.125",
        "--latent",
        "8",
        "--depth",
        "1",
        "--batch",
        "4",
        "--autoencoder-steps",
        "2",
        "--flow-steps",
        "2",
    ]));
    let md = dir.0.join("scores.md");
    ok(&funknn(&[
        "eval-generator",
        "--generator",
        gs,
        "--data",
        d,
        "--classifier",
        cs,
        "--fd-samples",
        "12",
        "--batch",
        "5",
        "--markdown",
        md.to_str().unwrap(),
    ]));
    let table = std::fs::read_to_string(&md).unwrap();
    for row in [
        "Fréchet distance, 12 samples vs 24 test images",
        "12 training images (the floor)",
        "blurred to half the side and back",
    ] {
        assert!(table.contains(row), "{row}: {table}");
    }
    // More Fréchet samples than images is a clear error.
    let too_many = funknn(&[
        "eval-generator",
        "--generator",
        gs,
        "--data",
        d,
        "--classifier",
        cs,
        "--fd-samples",
        "100",
    ]);
    assert!(!too_many.status.success());
    assert!(String::from_utf8_lossy(&too_many.stderr).contains("100: need 2 to 24"));
}
