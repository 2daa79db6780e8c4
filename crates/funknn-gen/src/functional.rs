//! The functional generator: prior → decoder → FunkNN. It samples images at any size or
//! point set, with the jets of funknn-core, and stays differentiable from `u`, `∇u` and `Δu`
//! back to the latent and to the decoder's weights.

use candle_core::Tensor;
use funknn_core::picture::{render_tiles, BitDepth, Raster, Samples};
use funknn_core::{EvalOptions, Evaluator, FunkNN, Jet, JetOrder};

use crate::generator::{standard_normal, DiscreteGenerator, LatentPrior};
use crate::{Error, Result};

/// A latent prior, a discrete generator and a FunkNN that makes its images continuous.
///
/// ```
/// use candle_core::{DType, Device};
/// use candle_nn::{VarBuilder, VarMap};
/// use funknn_core::{Config, FunkNN, JetOrder};
/// use funknn_gen::{AutoencoderConfig, Decoder, FlowConfig, FunctionalGenerator, RealNvp};
///
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let ae = AutoencoderConfig { latent_dim: 16, resolution: 32, channels: 1, width: 0.25 };
/// let decoder = Decoder::new(&ae, vb.pp("decoder"))?;
/// let prior = RealNvp::new(&FlowConfig { latent_dim: 16, depth: 2 }, vb.pp("flow"))?;
/// let (funknn, _) = FunkNN::random(&Config { channels: 1, ..Config::default() }, 0, DType::F32, &Device::Cpu)?;
/// let generator = FunctionalGenerator::new(prior, decoder, funknn)?;
/// let latents = generator.sample_latents(2, 1.0, 7)?;
/// // Any resolution, from the same 32² images:
/// let big = generator.render(&latents, 96, 80, 1 << 14)?;
/// assert_eq!(big.dims(), &[2, 1, 96, 80]);
/// # Ok::<(), funknn_gen::Error>(())
/// ```
pub struct FunctionalGenerator<P, G> {
    prior: P,
    generator: G,
    funknn: FunkNN,
}

impl<P: LatentPrior, G: DiscreteGenerator> FunctionalGenerator<P, G> {
    /// Checks that the three parts agree on the latent dimension and the channels.
    pub fn new(prior: P, generator: G, funknn: FunkNN) -> Result<Self> {
        if prior.latent_dim() != generator.latent_dim() {
            return Err(Error::invalid(
                "functional generator",
                format!(
                    "the prior's latents have {} dimensions, the generator takes {}",
                    prior.latent_dim(),
                    generator.latent_dim()
                ),
            ));
        }
        let channels = generator.image_shape().0;
        if funknn.config().channels != channels {
            return Err(Error::invalid(
                "functional generator",
                format!(
                    "the generator makes {channels}-channel images, the FunkNN takes {}",
                    funknn.config().channels
                ),
            ));
        }
        Ok(FunctionalGenerator {
            prior,
            generator,
            funknn,
        })
    }

    pub fn prior(&self) -> &P {
        &self.prior
    }

    pub fn generator(&self) -> &G {
        &self.generator
    }

    pub fn funknn(&self) -> &FunkNN {
        &self.funknn
    }

    /// `n` latents from the prior at `temperature`, reproducibly from `seed`.
    pub fn sample_latents(&self, n: usize, temperature: f64, seed: u64) -> Result<Tensor> {
        let base = standard_normal(n, self.prior.latent_dim(), seed)?;
        self.prior.sample_from(&base, temperature)
    }

    /// The discrete images `(N, C, h, w)` the generator makes of `latent` (differentiable).
    pub fn images(&self, latent: &Tensor) -> Result<Tensor> {
        self.generator.generate(latent)
    }

    /// The continuous images at `points` `(N, P, 2)` with derivatives up to `order`, as one
    /// candle graph: a loss on any part backpropagates to the latent and the weights.
    pub fn jet(&self, latent: &Tensor, points: &Tensor, order: JetOrder) -> Result<Jet> {
        let images = self.images(latent)?;
        let points = points.to_dtype(images.dtype())?;
        Ok(self.funknn.forward_jet(&images, &points, order)?)
    }

    /// Like [`Self::jet`] with the FunkNN's weights frozen: gradients reach the latent and
    /// the generator's weights, not the FunkNN's. For an MLP FunkNN on the CPU in f32 it runs
    /// on the graph-free engine ([`FunkNN::forward_jet_frozen`]), several times faster than
    /// the graph; otherwise it is [`Self::jet`].
    pub fn jet_frozen(&self, latent: &Tensor, points: &Tensor, order: JetOrder) -> Result<Jet> {
        let images = self.images(latent)?;
        let fast = matches!(self.funknn.network(), funknn_core::PatchNetwork::Mlp(_))
            && images.dtype() == candle_core::DType::F32
            && images.device().is_cpu();
        if !fast {
            return self.jet(latent, points, order);
        }
        let points = points.to_dtype(images.dtype())?;
        Ok(self.funknn.forward_jet_frozen(&images, &points, order)?)
    }

    /// The continuous images rendered at the pixel centres of `height × width`, without a
    /// graph (graph-free engine, `tile_points` points at a time): `(N, C, height, width)`.
    pub fn render(
        &self,
        latent: &Tensor,
        height: usize,
        width: usize,
        tile_points: usize,
    ) -> Result<Tensor> {
        let images = self.images(&latent.detach())?.detach();
        let mut out = Vec::with_capacity(images.dim(0)?);
        for i in 0..images.dim(0)? {
            let image = images.narrow(0, i, 1)?;
            let evaluator = Evaluator::new(
                &self.funknn,
                &image,
                JetOrder::Value,
                EvalOptions::default(),
            )?;
            let mut tiles = Vec::new();
            render_tiles(&evaluator, height, width, tile_points, |_, _, jet| {
                tiles.push(jet.value()?.squeeze(0)?);
                Ok(())
            })?;
            // (P, C) rows → (C, H, W).
            let values = Tensor::cat(&tiles, 0)?;
            let c = values.dim(1)?;
            out.push(values.t()?.reshape((c, height, width))?);
        }
        Ok(Tensor::stack(&out, 0)?)
    }

    /// One continuous image (`latent` `(1, D)`) rendered at `height × width` straight into
    /// quantised samples: memory stays at one output picture's samples whatever the size.
    pub fn render_raster(
        &self,
        latent: &Tensor,
        height: usize,
        width: usize,
        tile_points: usize,
        depth: BitDepth,
    ) -> Result<Raster> {
        if latent.dim(0)? != 1 {
            return Err(Error::Shape {
                name: "latent",
                expected: format!("(1, {})", self.prior.latent_dim()),
                got: latent.dims().to_vec(),
            });
        }
        let image = self.images(&latent.detach())?.detach();
        let evaluator = Evaluator::new(
            &self.funknn,
            &image,
            JetOrder::Value,
            EvalOptions::default(),
        )?;
        let mut samples = Samples::new(depth);
        render_tiles(&evaluator, height, width, tile_points, |_, _, jet| {
            let values: Vec<f32> = jet
                .value()?
                .to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1()?;
            samples.push_values(&values);
            Ok(())
        })?;
        let channels = self.funknn.config().channels;
        Ok(Raster::new(width, height, channels, samples)?)
    }
}
