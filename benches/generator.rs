//! The generator's training and decoding, beside `benches/official/generator_step.py`:
//! - one autoencoder step (batch 64, grey, width 1: the official widths) at 64² and 32²:
//!   encoder, decoder, MSE + Laplacian-pyramid loss + latent penalty, backward, Adam
//!   (`generator_step.py --pyramid` adds the official pyramid loss to the official step),
//!   and at 64² without the pyramid loss (`autoencoder_64_mse`, as `generator_step.py`
//!   without `--pyramid`);
//! - one prior step (batch 64, latent 256, depth 5): negative log-likelihood, backward, Adam;
//! - decoding 64 latents at 64².
//!
//! `cargo bench -p funknn-benches --bench generator`

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};
use funknn_benches::{generator_trainer, noise_images};
use funknn_gen::train::GeneratorTrainer;
use funknn_gen::{AutoencoderConfig, DiscreteGenerator, Generator, GeneratorConfig};

// The allocator of the `funknn` binary, whose training this measures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn trainer(resolution: usize, flow: bool) -> GeneratorTrainer {
    generator_trainer(resolution, flow, 1.0)
}

fn generator_steps(c: &mut Criterion) {
    funknn_benches::tune_runtime();
    let mut g = c.benchmark_group("generator_step_batch64");
    g.sample_size(10);
    for resolution in [64, 32] {
        let data = noise_images(resolution);
        let mut t = trainer(resolution, false);
        t.step(&data).unwrap();
        g.bench_function(format!("autoencoder_{resolution}"), |b| {
            b.iter(|| t.step(&data).unwrap())
        });
    }
    // The official step's loss as `generator_step.py` times it without `--pyramid`: MSE and
    // the latent penalty only.
    let data = noise_images(64);
    let mut t = generator_trainer(64, false, 0.0);
    t.step(&data).unwrap();
    g.bench_function("autoencoder_64_mse", |b| b.iter(|| t.step(&data).unwrap()));
    g.finish();
}

/// The prior alone on fixed latents, as the official step times it (the trainer also encodes
/// each batch): the NLL and its gradient, then Adam with weight decay, as the trainer's
/// prior phase runs them.
fn flow_step(c: &mut Criterion) {
    let config = trainer(32, true).config().generator.clone();
    let (generator, vars) = Generator::random(&config, 0, DType::F32, &Device::Cpu).unwrap();
    let latents = Tensor::randn(0f32, 1f32, (64, 256), &Device::Cpu).unwrap();
    let mut flow_vars = funknn_core::train::sorted_vars(&vars).unwrap();
    flow_vars.retain(|(k, _)| k.starts_with(funknn_gen::FLOW_PREFIX));
    let mut adam = funknn_core::train::Adam::new(flow_vars, 1e-4).unwrap();
    adam.weight_decay = 1e-5;
    let mut g = c.benchmark_group("generator_step_batch64");
    g.sample_size(20);
    g.bench_function("flow_latent256_depth5", |b| {
        b.iter(|| {
            let step = generator.prior.nll_gradient(&latents).unwrap();
            let named: HashMap<String, Tensor> = step
                .gradients
                .into_iter()
                .map(|(k, v)| (format!("{}{k}", funknn_gen::FLOW_PREFIX), v))
                .collect();
            adam.step_named(&named).unwrap();
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
