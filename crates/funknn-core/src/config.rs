//! The model's architecture, serialised as `config.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident ($label:literal) { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in `config.json` and on the command line.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s.to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Error::invalid(
                        $label,
                        format!(
                            "unknown {:?}; expected one of: {}",
                            s,
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }
    };
}

named_enum!(
    /// The network that maps a patch to an intensity.
    Network ("network") {
        /// The official repository's MLP on the flattened patch (≈651k parameters for RGB).
        Mlp => "mlp",
        /// The paper's CNN: eight 2×2 convolutions, two max-pools, then an MLP (≈141k).
        Cnn => "cnn",
    }
);

named_enum!(
    /// Pointwise non-linearity of the patch network.
    Activation ("activation") {
        /// `max(0, z)`: the official default; piecewise linear, so second derivatives vanish.
        Relu => "relu",
        /// `sin(ω·z)` on the MLP layers (learnable ω) and `sin(z)` on the convolutions.
        Sin => "sin",
        /// Gaussian error linear unit (exact, erf-based).
        Gelu => "gelu",
        /// `z·sigmoid(z)`.
        Silu => "silu",
        /// Hyperbolic tangent.
        Tanh => "tanh",
    }
);

named_enum!(
    /// Interpolation kernel of the patch sampler.
    KernelKind ("kernel") {
        /// Linear interpolation, 2×2 taps. Continuous only: use it for values.
        Bilinear => "bilinear",
        /// Keys cubic convolution, a = −0.5, 4×4 taps, with the official +1e−6 shift. C¹.
        CubicConv => "cubic_conv",
        /// PyTorch's `grid_sample` bicubic, a = −0.75, 4×4 taps. C¹.
        Bicubic => "bicubic",
        /// Cubic B-spline on prefiltered coefficients: interpolating and C².
        Bspline => "bspline",
    }
);

/// Architecture of a FunkNN model: what `config.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub network: Network,
    pub activation: Activation,
    pub kernel: KernelKind,
    /// Image channels (1 for grey, 3 for RGB).
    pub channels: usize,
    /// Side of the sampled patch, in samples (the official code uses 9).
    #[serde(default = "default_patch_size")]
    pub patch_size: usize,
    /// Initial frequency ω of the sine MLP layers (SIREN's w0).
    #[serde(default = "default_omega")]
    pub omega_0: f64,
    /// Where the weights came from (free text: an import, a training command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

fn default_patch_size() -> usize {
    9
}

fn default_omega() -> f64 {
    30.0
}

impl Default for Config {
    /// The official default: MLP, ReLU, bicubic, RGB, 9×9 patches.
    fn default() -> Self {
        Config {
            network: Network::Mlp,
            activation: Activation::Relu,
            kernel: KernelKind::Bicubic,
            channels: 3,
            patch_size: 9,
            omega_0: 30.0,
            source: None,
        }
    }
}

impl Config {
    /// Checks the values a model cannot be built with.
    pub fn validate(&self) -> Result<()> {
        if self.channels == 0 || self.channels > 64 {
            return Err(Error::invalid(
                "config",
                format!("channels must be in 1..=64, got {}", self.channels),
            ));
        }
        let min_patch = if self.network == Network::Cnn { 4 } else { 1 };
        if self.patch_size < min_patch || self.patch_size > 64 || self.patch_size.is_multiple_of(2)
        {
            return Err(Error::invalid(
                "config",
                format!(
                    "patch_size must be odd and in {min_patch}..=63 for {}, got {}",
                    self.network, self.patch_size
                ),
            ));
        }
        if !self.omega_0.is_finite() {
            return Err(Error::invalid("config", "omega_0 must be finite"));
        }
        Ok(())
    }

    /// Reads and validates `config.json`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: Config = serde_json::from_str(&text).map_err(|error| Error::Config {
            path: path.to_owned(),
            error,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Pretty JSON, as written to `config.json`.
    pub fn to_json(&self) -> String {
        // Serialising plain enums, numbers and strings cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_names() {
        let c = Config {
            network: Network::Cnn,
            activation: Activation::Sin,
            kernel: KernelKind::CubicConv,
            ..Config::default()
        };
        let back: Config = serde_json::from_str(&c.to_json()).unwrap();
        assert_eq!(back, c);
        assert!(c.to_json().contains("\"cubic_conv\""));
        assert_eq!(
            "BSPLINE".parse::<KernelKind>().unwrap(),
            KernelKind::Bspline
        );
        let err = "lanczos".parse::<KernelKind>().unwrap_err().to_string();
        assert!(err.contains("lanczos") && err.contains("bspline"), "{err}");
    }

    #[test]
    fn rejects_absurd_configs() {
        let c = Config {
            channels: 0,
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let c = Config {
            patch_size: 8,
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }
}
