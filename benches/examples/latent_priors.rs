//! Other latent priors beside the generator's RealNVP, on the same footing: `dump` writes
//! the encoder's Fashion-MNIST latents (`train`, `test`) for fitting elsewhere; `score`
//! decodes latents from a file (tensor `samples`, `(N, D)`) and prints their Fréchet
//! distance and the classifier's confidence as `eval-generator` does, with a contact sheet
//! of the first 64.
//!
//! `cargo run --release -p funknn-benches --example latent_priors -- dump GENERATOR OUT.safetensors`
//! `cargo run --release -p funknn-benches --example latent_priors -- flow GENERATOR COUNT TEMPERATURE OUT.safetensors`
//! (`prior` instead of `flow`: the sampling prior, the mixture when there is one)
//! `cargo run --release -p funknn-benches --example latent_priors -- reencode GENERATOR LATENTS.safetensors ROUNDS OUT.safetensors`
//! `cargo run --release -p funknn-benches --example latent_priors -- score GENERATOR CLASSIFIER LATENTS.safetensors SHEET.png`

use std::collections::HashMap;

use candle_core::{DType, Device};
use funknn_core::picture::{write_picture, BitDepth, Raster, WriteOptions};
use funknn_gen::train::{ImageSet, Split, FASHION_MNIST_DIR};
use funknn_gen::{frechet_scores_of_latents, FeatureClassifier, Generator, LatentPrior};

type R<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> R<()> {
    let a: Vec<String> = std::env::args().collect();
    let usage = "usage: latent_priors dump GENERATOR OUT | flow GENERATOR COUNT TEMPERATURE OUT \
        | prior GENERATOR COUNT TEMPERATURE OUT | reencode GENERATOR LATENTS ROUNDS OUT \
        | score GENERATOR CLASSIFIER LATENTS SHEET";
    let dev = Device::Cpu;
    match a.get(1).map(String::as_str) {
        Some("dump") if a.len() == 4 => {
            let g = Generator::load(&a[2], DType::F32, &dev)?;
            let mut out = HashMap::new();
            for (name, split) in [("train", Split::Train), ("test", Split::Test)] {
                let set = ImageSet::fashion_mnist(FASHION_MNIST_DIR.as_ref(), split, 0)?;
                out.insert(name.to_string(), g.encode(set.images(), 1000, |_| {})?);
            }
            candle_core::safetensors::save(&out, &a[3])?;
        }
        Some("score") if a.len() == 6 => {
            let g = Generator::load(&a[2], DType::F32, &dev)?;
            let classifier = FeatureClassifier::load(&a[3], &dev)?;
            let latents = candle_core::safetensors::load(&a[4], &dev)?
                .remove("samples")
                .ok_or("no tensor `samples` in the latents file")?
                .to_dtype(DType::F32)?;
            let train = ImageSet::fashion_mnist(FASHION_MNIST_DIR.as_ref(), Split::Train, 0)?;
            let test = ImageSet::fashion_mnist(FASHION_MNIST_DIR.as_ref(), Split::Test, 0)?;
            let s =
                frechet_scores_of_latents(&g, &classifier, &train, &test, &latents, 500, |_| {})?;
            println!(
                "{}: Fréchet {:.1} (floor {:.2}, blurred {:.1}), sure {:.3} (test images {:.3})",
                a[4], s.samples, s.train, s.blurred_test, s.samples_confident, s.test_confident
            );
            let n = latents.dim(0)?.min(64);
            let imgs = g
                .autoencoder
                .decoder
                .forward(&latents.narrow(0, 0, n)?)?
                .clamp(0f32, 1f32)?;
            let tiles: Vec<Raster> = (0..n)
                .map(|i| Raster::from_tensor(&imgs.get(i)?, BitDepth::Eight))
                .collect::<Result<_, _>>()?;
            let sheet = Raster::contact_sheet(&tiles, 8, 2)?;
            write_picture(a[5].as_ref(), &sheet, &WriteOptions::default())?;
        }
        Some(which @ ("flow" | "prior")) if a.len() == 6 => {
            // The generator's flow (or its sampling prior) samples, as `score` reads them.
            let g = Generator::load(&a[2], DType::F32, &dev)?;
            let (count, t): (usize, f64) = (a[3].parse()?, a[4].parse()?);
            let prior = g.sampling_prior();
            let prior: &dyn LatentPrior = if which == "flow" { &g.prior } else { &prior };
            let w = funknn_gen::standard_normal(count, prior.latent_dim(), 0)?;
            let z = prior.sample_from(&w, t)?;
            let log_prob = prior.log_prob(&z)?;
            let out = HashMap::from([
                ("samples".to_string(), z),
                ("log_prob".to_string(), log_prob),
            ]);
            candle_core::safetensors::save(&out, &a[5])?;
        }
        Some("reencode") if a.len() == 6 => {
            // Decode and encode again ROUNDS times: the autoencoder as a projection back
            // towards the latents of real images.
            let g = Generator::load(&a[2], DType::F32, &dev)?;
            let mut z = candle_core::safetensors::load(&a[3], &dev)?
                .remove("samples")
                .ok_or("no tensor `samples` in the latents file")?
                .to_dtype(DType::F32)?;
            for _ in 0..a[4].parse::<usize>()? {
                let mut parts = Vec::new();
                for start in (0..z.dim(0)?).step_by(500) {
                    let n = (z.dim(0)? - start).min(500);
                    let x = g.autoencoder.decoder.forward(&z.narrow(0, start, n)?)?;
                    parts.push(g.encode(&x.clamp(0f32, 1f32)?, 500, |_| {})?);
                }
                z = candle_core::Tensor::cat(&parts, 0)?;
            }
            candle_core::safetensors::save(&HashMap::from([("samples".to_string(), z)]), &a[5])?;
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
