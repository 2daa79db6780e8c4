//! Options that several commands share.

use funknn_core::{Activation, Config, KernelKind, Network};

/// The model architecture, for `import` and `train`.
#[derive(clap::Args)]
pub struct ArchitectureArgs {
    /// Patch network: mlp or cnn.
    #[arg(long, default_value = "mlp")]
    pub network: Network,
    /// Activation: relu, sin, gelu, silu or tanh.
    #[arg(long, default_value = "relu")]
    pub activation: Activation,
    /// Interpolation kernel: bicubic, cubic_conv, bilinear or bspline.
    #[arg(long, default_value = "bicubic")]
    pub kernel: KernelKind,
    /// Image channels (1 grey, 3 RGB).
    #[arg(long, default_value_t = 3)]
    pub channels: usize,
}

impl ArchitectureArgs {
    pub fn config(&self, source: Option<String>) -> Config {
        Config {
            network: self.network,
            activation: self.activation,
            kernel: self.kernel,
            channels: self.channels,
            source,
            ..Config::default()
        }
    }
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct SizeArgs {
    /// Scale factor (any positive number, e.g. 4 or 2.5).
    #[arg(long)]
    pub scale: Option<f64>,
    /// Output size as WIDTHxHEIGHT.
    #[arg(long, value_parser = parse_size)]
    pub size: Option<(usize, usize)>,
}

#[derive(clap::Args)]
pub struct ModelArgs {
    /// Model: a folder (config.json + model.safetensors) or a Hugging Face hub repo id
    /// owner/name (or owner/name@revision) (cached; HF_HUB_OFFLINE=1 reads the cache only); default: the embedded
    /// funknn-mlp-photo for upsample, funknn-gelu-bspline-photo for derivatives (see
    /// weights/).
    #[arg(long)]
    pub model: Option<String>,
    /// Points per tile: bounds memory whatever the output size.
    #[arg(long, default_value_t = 65_536)]
    pub tile: usize,
}

pub fn parse_size(s: &str) -> std::result::Result<(usize, usize), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?} is not WIDTHxHEIGHT"))?;
    let parse = |v: &str| v.trim().parse::<usize>().map_err(|e| format!("{v:?}: {e}"));
    Ok((parse(w)?, parse(h)?))
}
