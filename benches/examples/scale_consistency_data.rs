//! Scale consistency (a FunkNN rendering at 4× the side, antialiased back down, against the
//! 32² image, as SNR) of real Fashion-MNIST test images, of their reconstructions by the
//! generator, and of prior samples: what `eval-generator`'s score means for real data.
//! Beside each, the same score of plain interpolation (Keys bicubic, a = −0.5, and the
//! cubic B-spline interpolant) in place of the FunkNN.
//!
//! `cargo run --release -p funknn-benches --example scale_consistency_data -- GENERATOR FUNKNN [COUNT]`

use candle_core::{DType, Device, Tensor};
use funknn_core::picture::{render_tiles, resize_bilinear_aa};
use funknn_core::{
    ContinuousImage, EvalOptions, Evaluator, FunkNN, JetOrder, KernelInterpolant, KernelKind,
};
use funknn_gen::train::{ImageSet, Split, FASHION_MNIST_DIR};
use funknn_gen::{standard_normal, Generator, LatentPrior};

type R<T> = Result<T, Box<dyn std::error::Error>>;

/// Who renders the 4× image: the FunkNN, or an interpolation kernel.
enum Renderer<'a> {
    FunkNN(&'a FunkNN),
    Kernel(KernelKind),
}

/// Pooled SNR (dB) of the 4× rendering, downsampled, against each image of `images`.
fn scale_consistency(renderer: &Renderer, images: &Tensor) -> R<f64> {
    let (n, c, h, w) = images.dims4()?;
    let (mut s, mut e) = (0f64, 0f64);
    for i in 0..n {
        let image = images.narrow(0, i, 1)?;
        let ev: Box<dyn ContinuousImage> = match renderer {
            Renderer::FunkNN(f) => Box::new(Evaluator::new(
                f,
                &image,
                JetOrder::Value,
                EvalOptions::default(),
            )?),
            Renderer::Kernel(k) => Box::new(KernelInterpolant::new(*k, &image, JetOrder::Value)?),
        };
        let mut tiles = Vec::new();
        render_tiles(ev.as_ref(), 4 * h, 4 * w, 1 << 16, |_, _, jet| {
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
    let recon = g
        .autoencoder
        .decoder
        .forward(&g.autoencoder.encoder.forward(&images)?)?;
    let t = g.config().sampling_temperature();
    let z = g
        .prior
        .sample_from(&standard_normal(count, g.prior.latent_dim(), 0)?, t)?;
    let samples = g.autoencoder.decoder.forward(&z)?;
    let renderers = [
        ("FunkNN", Renderer::FunkNN(&funknn)),
        ("Keys bicubic", Renderer::Kernel(KernelKind::CubicConv)),
        ("B-spline", Renderer::Kernel(KernelKind::Bspline)),
    ];
    println!("| {count} images | FunkNN | Keys bicubic | B-spline |\n|---|---:|---:|---:|");
    let sets = [
        ("test images".to_string(), &images),
        ("their reconstructions".to_string(), &recon),
        (format!("prior samples (temperature {t})"), &samples),
    ];
    for (name, set) in sets {
        let mut row = format!("| {name} |");
        for (_, r) in &renderers {
            row += &format!(" {:.2} dB |", scale_consistency(r, set)?);
        }
        println!("{row}");
    }
    Ok(())
}
