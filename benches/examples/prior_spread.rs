//! How wide a generator's prior samples are against the latents it was fitted to: the
//! standard deviation per latent dimension (averaged over dimensions) of 5,000 encoded
//! Fashion-MNIST training latents, and of 5,000 prior samples at a range of temperatures,
//! with the samples' NLL and how many are not finite. This chose the shipped generator's
//! default temperature (its card).
//!
//! `cargo run --release -p funknn-benches --example prior_spread -- GENERATOR_FOLDER`

use candle_core::{DType, Device, Tensor};
use funknn_gen::train::{ImageSet, Split, FASHION_MNIST_DIR};
use funknn_gen::{standard_normal, Generator, LatentPrior};

fn spread(t: &Tensor) -> candle_core::Result<f32> {
    let m = t.mean_keepdim(0)?;
    t.broadcast_sub(&m)?
        .sqr()?
        .mean(0)?
        .sqrt()?
        .mean_all()?
        .to_scalar()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: prior_spread GENERATOR_FOLDER")?;
    let g = Generator::load(&dir, DType::F32, &Device::Cpu)?;
    let d = g.prior.latent_dim();
    let train = ImageSet::fashion_mnist(FASHION_MNIST_DIR.as_ref(), Split::Train, 5000)?;
    let latents = g.autoencoder.encoder.forward(train.images())?;
    println!("training latents: spread {:.4}", spread(&latents)?);
    for t in [1.0, 1.1, 1.2, 1.25, 1.3, 1.4, 1.5] {
        let s = g.prior.sample_from(&standard_normal(5000, d, 0)?, t)?;
        let sums: Vec<f32> = s.abs()?.sum(1)?.to_vec1()?;
        let bad = sums.iter().filter(|v| !v.is_finite()).count();
        let nll = g
            .prior
            .log_prob(&s)?
            .mean_all()?
            .neg()?
            .to_scalar::<f32>()?;
        println!(
            "temperature {t}: spread {:.4}, NLL {nll:.1}, not finite {bad}",
            spread(&s)?
        );
    }
    Ok(())
}
