//! The generator's scores: the reconstruction SNR and likelihood are what they say, batching
//! changes nothing, and wrong-shaped test images are refused.

use candle_core::{DType, Device, Tensor};
use funknn_core::{Config, FunkNN, KernelKind};
use funknn_gen::train::ImageSet;
use funknn_gen::{
    evaluate_generator, AutoencoderConfig, FlowConfig, Generator, GeneratorConfig, LatentPrior,
};

fn generator() -> Generator {
    let config = GeneratorConfig {
        architecture: funknn_gen::ARCHITECTURE.into(),
        autoencoder: AutoencoderConfig {
            latent_dim: 8,
            resolution: 32,
            channels: 1,
            width: 0.125,
        },
        flow: FlowConfig {
            latent_dim: 8,
            depth: 1,
        },
        source: None,
        temperature: None,
        mixture: None,
    };
    Generator::random(&config, 9, DType::F32, &Device::Cpu)
        .unwrap()
        .0
}

#[test]
fn scores_are_what_they_say_and_do_not_depend_on_batching() {
    let g = generator();
    let images = Tensor::rand(0f32, 1., (7, 1, 32, 32), &Device::Cpu).unwrap();
    let test = ImageSet::from_tensor(images.clone(), "random");
    let grey = Config {
        channels: 1,
        kernel: KernelKind::Bspline,
        ..Config::default()
    };
    let (funknn, _) = FunkNN::random(&grey, 1, DType::F32, &Device::Cpu).unwrap();
    let a = evaluate_generator(&g, Some(&funknn), &test, 2, 0, 3, |_| {}).unwrap();
    let b = evaluate_generator(&g, Some(&funknn), &test, 2, 0, 7, |_| {}).unwrap();
    // Up to float32 rounding, which depends on how images are batched into GEMMs.
    assert!((a.reconstruction_snr_db - b.reconstruction_snr_db).abs() < 1e-4);
    assert!((a.test_nll - b.test_nll).abs() < 1e-6 * a.test_nll.abs().max(1.0));
    assert_eq!(a.scale_consistency_db, b.scale_consistency_db);
    assert!(a.scale_consistency_db.unwrap().0.is_finite());
    // The definitions, directly.
    let ae = &g.autoencoder;
    let latents = ae.encoder.forward(&images).unwrap();
    let recon = ae.decoder.forward(&latents).unwrap();
    let sum = |t: Tensor| -> f64 {
        t.sum_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_scalar()
            .unwrap()
    };
    let snr = 10.0
        * (sum(images.sqr().unwrap()) / sum((&recon - &images).unwrap().sqr().unwrap())).log10();
    assert!(
        (a.reconstruction_snr_db - snr).abs() < 1e-6,
        "{} vs {snr}",
        a.reconstruction_snr_db
    );
    let nll = -sum(g.prior.log_prob(&latents).unwrap()) / 7.0;
    assert!((a.test_nll - nll).abs() < 1e-4 * nll.abs().max(1.0));
    let md = a.to_markdown();
    assert!(md.contains("reconstruction SNR (7 test images)") && md.contains("scale consistency"));
    // Without a FunkNN there is no scale score; wrong-shaped images are refused.
    let c = evaluate_generator(&g, None, &test, 2, 0, 4, |_| {}).unwrap();
    assert!(c.scale_consistency_db.is_none());
    let wrong = ImageSet::from_tensor(
        Tensor::zeros((2, 1, 16, 16), DType::F32, &Device::Cpu).unwrap(),
        "small",
    );
    let err = evaluate_generator(&g, None, &wrong, 0, 0, 4, |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("(N, 1, 32, 32)"), "{err}");
}
