//! Scale consistency (a FunkNN rendering at 4× the side, antialiased back down, against the
//! 32² image, as SNR) of real Fashion-MNIST test images, of their reconstructions by the
//! generator, and of prior samples: what `eval-generator`'s score means for real data.
//!
//! `cargo run --release -p funknn-benches --example scale_consistency_data -- GENERATOR FUNKNN [COUNT]`

use candle_core::{DType, Device, Tensor};
use funknn_core::picture::{render_tiles, resize_bilinear_aa};
use funknn_core::{EvalOptions, Evaluator, FunkNN, JetOrder};
use funknn_gen::train::{ImageSet, Split, FASHION_MNIST_DIR};
use funknn_gen::{standard_normal, Generator, LatentPrior};

type R<T> = Result<T, Box<dyn std::error::Error>>;

/// Pooled SNR (dB) of the 4× rendering, downsampled, against each image of `images`.
fn scale_consistency(funknn: &FunkNN, images: &Tensor) -> R<f64> {
    let (n, c, h, w) = images.dims4()?;
    let (mut s, mut e) = (0f64, 0f64);
    for i in 0..n {
        let image = images.narrow(0, i, 1)?;
        let ev = Evaluator::new(funknn, &image, JetOrder::Value, EvalOptions::default())?;
        let mut tiles = Vec::new();
        render_tiles(&ev, 4 * h, 4 * w, 1 << 16, |_, _, jet| {
            tiles.push(jet.value()?.squeeze(0)?);
            Ok(())
        })?;
        // (P, C) rows → channel-major values.
        let big: Vec<f32> = Tensor::cat(&tiles, 0)?.t()?.flatten_all()?.to_vec1()?;
        let down = resize_bilinear_aa(&big, c, 4 * h, 4 * w, h, w);
        let orig: Vec<f32> = image.flatten_all()?.to_vec1()?;
        for (a, b) in orig.iter().zip(&down) {
            s += (*a as f64).powi(2);
            e += (*a as f64 - *b as f64).powi(2);
        }
    }
    Ok(10.0 * (s / e).log10())
}

fn main() -> R<()> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 3 {
        return Err("usage: scale_consistency_data GENERATOR FUNKNN [COUNT]".into());
    }
    let dev = Device::Cpu;
    let g = Generator::load(&a[1], DType::F32, &dev)?;
    let funknn = FunkNN::load(&a[2], DType::F32, &dev)?;
    let count: usize = a.get(3).map(|s| s.parse()).transpose()?.unwrap_or(256);
    let test = ImageSet::fashion_mnist(FASHION_MNIST_DIR.as_ref(), Split::Test, count)?;
    let images = test.images().clone();
    println!(
        "test images: {:.2} dB",
        scale_consistency(&funknn, &images)?
    );
    let recon = g
        .autoencoder
        .decoder
        .forward(&g.autoencoder.encoder.forward(&images)?)?;
    println!(
        "their reconstructions: {:.2} dB",
        scale_consistency(&funknn, &recon)?
    );
    let t = g.config().sampling_temperature();
    let z = g
        .prior
        .sample_from(&standard_normal(count, g.prior.latent_dim(), 0)?, t)?;
    let samples = g.autoencoder.decoder.forward(&z)?;
    println!(
        "prior samples (temperature {t}): {:.2} dB",
        scale_consistency(&funknn, &samples)?
    );
    Ok(())
}
