//! `funknn sample`: images from a generator's prior, at its own size or, through a FunkNN,
//! at any size.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use funknn_core::picture::{output_size, write_picture, BitDepth, Raster, WriteOptions};
use funknn_gen::{standard_normal, FunctionalGenerator, LatentPrior};

use crate::models::{choose_prior, load_generator, load_model, PriorChoice};
use crate::progress;

/// The options of `funknn sample`.
#[derive(clap::Args)]
pub struct SampleArgs {
    /// Generator: a folder (config.json + model.safetensors) or a hub repo id
    /// owner/name (or owner/name@revision). Default: the embedded funknn-gen-fashion
    /// (Fashion-MNIST garments, 32²), rendered at other sizes by funknn-mlp-fashion.
    #[arg(long)]
    pub generator: Option<String>,
    /// FunkNN that renders the samples at any size (folder or hub repo id); without it (and
    /// with --generator) the samples are the decoder's images at the generator's own size.
    #[arg(long)]
    pub model: Option<String>,
    /// Number of samples.
    #[arg(long, default_value_t = 16)]
    pub count: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Spread of the prior's base distribution (1: the prior; below 1: more typical
    /// samples). Default: the sampling prior's `temperature` in config.json, else 1.
    #[arg(long)]
    pub temperature: Option<f64>,
    /// The prior samples are drawn from: `auto` (the generator's Gaussian mixture when it
    /// has one, else its flow), `flow` (the paper's RealNVP) or `mixture`.
    #[arg(long, value_enum, default_value = "auto")]
    pub prior: PriorChoice,
    /// Output size WIDTHxHEIGHT (needs --model).
    #[arg(long, value_parser = crate::args::parse_size, conflicts_with = "scale")]
    pub size: Option<(usize, usize)>,
    /// Output scale relative to the generator's size (needs --model).
    #[arg(long)]
    pub scale: Option<f64>,
    /// Output folder: DIR/0000.png, DIR/0001.png, ...
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also write all samples on one contact sheet (PNG, JPEG, TIFF or WebP).
    #[arg(long)]
    pub grid: Option<PathBuf>,
    /// Samples decoded at once.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Points per tile when rendering through the FunkNN.
    #[arg(long, default_value_t = 65_536)]
    pub tile: usize,
}

/// At most this many samples per call: the folder would hold more files than anyone looks at.
const MAX_COUNT: usize = 100_000;

pub fn run(args: &SampleArgs) -> Result<()> {
    if args.count == 0 || args.count > MAX_COUNT {
        bail!("--count {}: must be in 1..={MAX_COUNT}", args.count);
    }
    if args.batch == 0 {
        bail!("--batch must be positive");
    }
    if let Some(grid) = &args.grid {
        funknn_core::picture::PictureFormat::from_path(grid)?;
    }
    let generator = choose_prior(load_generator(args.generator.as_deref())?, args.prior)?;
    let r = generator.config().autoencoder.resolution;
    let temperature = args
        .temperature
        .unwrap_or_else(|| generator.config().sampling_temperature());
    let resized = args.scale.is_some() || args.size.is_some();
    // The embedded generator comes with its FunkNN; another needs --model to change size.
    let default_model =
        (args.generator.is_none() && resized).then_some(&funknn_weights_fashion::MLP_FASHION);
    let (height, width) = match (&args.model, default_model, resized) {
        (_, _, false) => (r, r),
        (None, None, true) => {
            bail!("rendering at another size than {r}×{r} needs --model (a FunkNN)")
        }
        _ => output_size(r, r, args.scale, args.size)?,
    };
    let funknn = match (&args.model, default_model) {
        (Some(spec), _) => Some(load_model(
            Some(spec),
            &funknn_weights_fashion::MLP_FASHION,
        )?),
        (None, Some(default)) => Some(load_model(None, default)?),
        (None, None) => None,
    };
    let prior = generator.sampling_prior();
    let decoder = generator.autoencoder.decoder.clone();
    let functional = match funknn {
        Some(f) => Some(FunctionalGenerator::new(prior.clone(), decoder.clone(), f)?),
        None => None,
    };
    // All base numbers from the seed at once: the same seed gives the same samples whatever
    // the batch size.
    let base = standard_normal(args.count, prior.latent_dim(), args.seed)?;
    // Every latent before any file: a prior that overflows at this temperature is refused
    // without leaving part of the samples behind.
    let mut latents = Vec::new();
    for start in (0..args.count).step_by(args.batch) {
        let n = args.batch.min(args.count - start);
        latents.push(prior.sample_from(&base.narrow(0, start, n)?, temperature)?);
    }
    let all_latents = candle_core::Tensor::cat(&latents, 0)?;
    // A sum, not a max: NaN and infinities propagate through it.
    let sums: Vec<f32> = all_latents.abs()?.sum(1)?.to_vec1()?;
    if let Some(i) = sums.iter().position(|v| !v.is_finite()) {
        bail!(
            "sample {i} is not finite at temperature {temperature}: the prior overflows there; \
             lower --temperature"
        );
    }
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let bar = progress::items(args.count as u64, "sampling");
    let mut sheet = Vec::new();
    for start in (0..args.count).step_by(args.batch) {
        let n = args.batch.min(args.count - start);
        let latents = all_latents.narrow(0, start, n)?;
        let images = match &functional {
            Some(_) => None,
            None => Some(decoder.forward(&latents)?),
        };
        for i in 0..n {
            let raster = match (&functional, &images) {
                (Some(f), _) => {
                    let latent = latents.narrow(0, i, 1)?;
                    f.render_raster(&latent, height, width, args.tile, BitDepth::Eight)?
                }
                (None, Some(images)) => Raster::from_tensor(&images.get(i)?, BitDepth::Eight)?,
                (None, None) => unreachable!("the decoder's images exist without a FunkNN"),
            };
            let path = args.output.join(format!("{:04}.png", start + i));
            write_picture(&path, &raster, &WriteOptions::default())
                .with_context(|| format!("writing {}", path.display()))?;
            if args.grid.is_some() {
                sheet.push(raster);
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    if let Some(grid) = &args.grid {
        let columns = (sheet.len() as f64).sqrt().ceil() as usize;
        let raster = Raster::contact_sheet(&sheet, columns, 2)?;
        write_picture(grid, &raster, &WriteOptions::default())
            .with_context(|| format!("writing {}", grid.display()))?;
    }
    tracing::info!(
        "wrote {} samples of {width}×{height} to {}",
        args.count,
        args.output.display()
    );
    Ok(())
}
