//! Jets: a tensor together with its spatial derivatives, propagated forward.
//!
//! A jet stores its parts stacked along a new leading dimension, so that an affine layer
//! maps all of them with one matmul or convolution (DESIGN.md §3). The parts are, in order:
//!
//! | order       | parts                                   |
//! |-------------|-----------------------------------------|
//! | `Value`     | `u`                                     |
//! | `Gradient`  | `u, ∂x u, ∂y u`                         |
//! | `Laplacian` | `u, ∂x u, ∂y u, Δu`                     |
//! | `Hessian`   | `u, ∂x u, ∂y u, ∂xx u, ∂xy u, ∂yy u`    |

use candle_core::Tensor;

use crate::{Error, Result};

/// Which derivatives a jet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JetOrder {
    /// The value alone.
    Value,
    /// Value and gradient.
    Gradient,
    /// Value, gradient and Laplacian (cheaper than the Hessian).
    Laplacian,
    /// Value, gradient and the three Hessian entries xx, xy, yy.
    Hessian,
}

impl JetOrder {
    /// Number of stacked parts.
    pub fn parts(&self) -> usize {
        match self {
            JetOrder::Value => 1,
            JetOrder::Gradient => 3,
            JetOrder::Laplacian => 4,
            JetOrder::Hessian => 6,
        }
    }

    /// Highest derivative order carried (0, 1 or 2).
    pub fn degree(&self) -> usize {
        match self {
            JetOrder::Value => 0,
            JetOrder::Gradient => 1,
            JetOrder::Laplacian | JetOrder::Hessian => 2,
        }
    }
}

impl std::str::FromStr for JetOrder {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "value" => Ok(JetOrder::Value),
            "gradient" => Ok(JetOrder::Gradient),
            "laplacian" => Ok(JetOrder::Laplacian),
            "hessian" => Ok(JetOrder::Hessian),
            _ => Err(Error::invalid(
                "derivatives",
                format!("unknown {s:?}; expected one of: none, gradient, laplacian, hessian"),
            )),
        }
    }
}

/// A tensor and its spatial derivatives, stacked along dimension 0.
#[derive(Debug, Clone)]
pub struct Jet {
    parts: Tensor,
    order: JetOrder,
}

impl Jet {
    /// Wraps stacked parts; the leading dimension must equal `order.parts()`.
    pub fn new(parts: Tensor, order: JetOrder) -> Result<Self> {
        if parts.rank() == 0 || parts.dim(0)? != order.parts() {
            return Err(Error::Shape {
                name: "jet parts",
                expected: format!("leading dimension {}", order.parts()),
                got: parts.dims().to_vec(),
            });
        }
        Ok(Jet { parts, order })
    }

    /// A constant: derivative parts are zero.
    pub fn constant(value: &Tensor, order: JetOrder) -> Result<Self> {
        let value = value.unsqueeze(0)?;
        let parts = if order.parts() == 1 {
            value
        } else {
            let mut shape = value.dims().to_vec();
            shape[0] = order.parts() - 1;
            Tensor::cat(
                &[
                    value.clone(),
                    Tensor::zeros(shape, value.dtype(), value.device())?,
                ],
                0,
            )?
        };
        Jet::new(parts, order)
    }

    pub fn order(&self) -> JetOrder {
        self.order
    }

    /// All parts, stacked: shape `(parts, ...)`.
    pub fn parts(&self) -> &Tensor {
        &self.parts
    }

    /// Part `i` (see the table in the module docs).
    pub fn part(&self, i: usize) -> Result<Tensor> {
        if self.order.parts() == 1 {
            // A reshape, whose backward is free, rather than a narrow, whose backward pads.
            return Ok(self.parts.squeeze(0)?);
        }
        Ok(self.parts.get(i)?)
    }

    pub fn value(&self) -> Result<Tensor> {
        self.part(0)
    }

    /// `(∂x, ∂y)` stacked along a new last dimension, if carried.
    pub fn gradient(&self) -> Result<Option<Tensor>> {
        if self.order.degree() < 1 {
            return Ok(None);
        }
        let dx = self.part(1)?;
        let last = dx.rank();
        Ok(Some(Tensor::stack(&[dx, self.part(2)?], last)?))
    }

    /// The Laplacian, if carried (directly, or as `∂xx + ∂yy` of a Hessian jet).
    pub fn laplacian(&self) -> Result<Option<Tensor>> {
        match self.order {
            JetOrder::Laplacian => Ok(Some(self.part(3)?)),
            JetOrder::Hessian => Ok(Some((self.part(3)? + self.part(5)?)?)),
            _ => Ok(None),
        }
    }

    /// `(∂xx, ∂xy, ∂yy)` stacked along a new last dimension, if carried.
    pub fn hessian(&self) -> Result<Option<Tensor>> {
        if self.order != JetOrder::Hessian {
            return Ok(None);
        }
        let last = self.part(3)?.rank();
        Ok(Some(Tensor::stack(
            &[self.part(3)?, self.part(4)?, self.part(5)?],
            last,
        )?))
    }

    /// Applies a shape change to every part at once (`f` sees `(parts, ...)`).
    pub fn map(&self, f: impl FnOnce(&Tensor) -> candle_core::Result<Tensor>) -> Result<Jet> {
        Jet::new(f(&self.parts)?, self.order)
    }

    /// Sum of two jets of the same order (residual connections).
    pub fn add(&self, other: &Jet) -> Result<Jet> {
        Jet::new((&self.parts + &other.parts)?, self.order)
    }

    /// Adds `bias` to the value part only: derivatives of a constant vanish.
    pub fn add_to_value(&self, bias: &Tensor) -> Result<Jet> {
        if self.order.parts() == 1 {
            return Jet::new(self.parts.broadcast_add(bias)?, self.order);
        }
        let value = self.parts.narrow(0, 0, 1)?.broadcast_add(bias)?;
        let rest = self.parts.narrow(0, 1, self.order.parts() - 1)?;
        Jet::new(Tensor::cat(&[value, rest], 0)?, self.order)
    }
}
