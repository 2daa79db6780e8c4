//! The generator's training and decoding, beside `benches/official/generator_step.py`:
//! - one autoencoder step (batch 64, grey, width 1: the official widths) at 64² and 32²:
//!   encoder, decoder, MSE + Laplacian-pyramid loss + latent penalty, backward, Adam;
//! - one prior step (batch 64, latent 256, depth 5): negative log-likelihood, backward, Adam;
//! - decoding 64 latents at 64².
//!
//! `cargo bench -p funknn-benches --bench generator`

use candle_core::{DType, Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};
use funknn_gen::train::{GeneratorTrainConfig, GeneratorTrainer, ImageSet};
use funknn_gen::{AutoencoderConfig, DiscreteGenerator, Generator, GeneratorConfig, LatentPrior};

// The allocator of the `funknn` binary, whose training this measures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn images(resolution: usize) -> ImageSet {
    let t = Tensor::rand(0f32, 1f32, (256, 1, resolution, resolution), &Device::Cpu).unwrap();
    ImageSet::from_tensor(t, "uniform noise")
}

fn trainer(resolution: usize, flow: bool) -> GeneratorTrainer {
    let mut config = GeneratorTrainConfig::default();
    config.generator.autoencoder = AutoencoderConfig {
        resolution,
        ..Default::default()
    };
    config.autoencoder_steps = if flow { 0 } else { 1_000_000 };
    config.flow_steps = 1_000_000;
    config.checkpoint_every = 0;
    GeneratorTrainer::new(config).unwrap()
}

fn generator_steps(c: &mut Criterion) {
    funknn_benches::tune_runtime();
    let mut g = c.benchmark_group("generator_step_batch64");
    g.sample_size(10);
    for resolution in [64, 32] {
        let data = images(resolution);
        let mut t = trainer(resolution, false);
        t.step(&data).unwrap();
        g.bench_function(format!("autoencoder_{resolution}"), |b| {
            b.iter(|| t.step(&data).unwrap())
        });
    }
    g.finish();
}

/// The prior alone on fixed latents, as the official step times it (the trainer also encodes
/// each batch).
fn flow_step(c: &mut Criterion) {
    let config = trainer(32, true).config().generator.clone();
    let (generator, vars) = Generator::random(&config, 0, DType::F32, &Device::Cpu).unwrap();
    let latents = Tensor::randn(0f32, 1f32, (64, 256), &Device::Cpu).unwrap();
    let flow_vars: Vec<_> = {
        let data = vars.data().lock().unwrap();
        data.iter()
            .filter(|(k, _)| k.starts_with(funknn_gen::FLOW_PREFIX))
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut adam = <candle_nn::AdamW as candle_nn::Optimizer>::new(
        flow_vars,
        candle_nn::ParamsAdamW {
            lr: 1e-4,
            weight_decay: 1e-5,
            ..Default::default()
        },
    )
    .unwrap();
    let mut g = c.benchmark_group("generator_step_batch64");
    g.sample_size(20);
    g.bench_function("flow_latent256_depth5", |b| {
        b.iter(|| {
            let nll = generator
                .prior
                .log_prob(&latents)
                .unwrap()
                .mean_all()
                .unwrap()
                .neg()
                .unwrap();
            candle_nn::Optimizer::backward_step(&mut adam, &nll).unwrap();
        })
    });
    g.finish();
}

fn decode(c: &mut Criterion) {
    let config = GeneratorConfig {
        autoencoder: AutoencoderConfig::default(),
        ..trainer(64, false).config().generator.clone()
    };
    let (generator, _vars) = Generator::random(&config, 0, DType::F32, &Device::Cpu).unwrap();
    let latent = Tensor::randn(0f32, 1f32, (64, 256), &Device::Cpu).unwrap();
    let mut g = c.benchmark_group("decode_batch64");
    g.sample_size(10);
    g.bench_function("64x64", |b| {
        b.iter(|| generator.autoencoder.decoder.generate(&latent).unwrap())
    });
    g.finish();
}

criterion_group!(benches, generator_steps, flow_step, decode);
criterion_main!(benches);
