//! Linear operators: a domain, a range, `apply` and `adjoint` (ODL's operator idea).
//! Solvers take a `&dyn LinearOperator<T>`, never a concrete CT type, so that a blur or a
//! derivative observation plugs into the same solvers.

mod combinators;
mod gradient;
mod norm;
mod points;

pub use combinators::{Scaled, Stacked};
pub use gradient::Gradient;
pub use norm::operator_norm;
pub use points::{PointOperator, PointQuantity};

use crate::error::check_len;
use crate::{Result, Scalar};

/// A linear map between flat buffers of `T`; `shape` describes each side for users.
pub trait LinearOperator<T: Scalar>: Sync {
    /// The shape of the input (e.g. `[H, W]`).
    fn domain(&self) -> Vec<usize>;
    /// The shape of the output (e.g. `[A, D]`).
    fn range(&self) -> Vec<usize>;
    /// `y = A x`, overwriting `y`. Lengths must match the domain and range.
    fn apply(&self, x: &[T], y: &mut [T]) -> Result<()>;
    /// `x = Aᵀ y`, overwriting `x`: the exact transpose of [`Self::apply`].
    fn adjoint(&self, y: &[T], x: &mut [T]) -> Result<()>;

    /// The number of input values.
    fn domain_len(&self) -> usize {
        self.domain().iter().product()
    }
    /// The number of output values.
    fn range_len(&self) -> usize {
        self.range().iter().product()
    }
    /// `A x` in a new buffer.
    fn apply_vec(&self, x: &[T]) -> Result<Vec<T>> {
        let mut y = vec![T::zero(); self.range_len()];
        self.apply(x, &mut y)?;
        Ok(y)
    }
    /// `Aᵀ y` in a new buffer.
    fn adjoint_vec(&self, y: &[T]) -> Result<Vec<T>> {
        let mut x = vec![T::zero(); self.domain_len()];
        self.adjoint(y, &mut x)?;
        Ok(x)
    }
}

/// Checks the buffer lengths of `apply` / `adjoint`.
pub(crate) fn check_io<T: Scalar, O: LinearOperator<T> + ?Sized>(
    op: &O,
    input: usize,
    output: usize,
    adjoint: bool,
) -> Result<()> {
    let (i, o) = (op.domain_len(), op.range_len());
    if adjoint {
        check_len("adjoint input", input, o)?;
        check_len("adjoint output", output, i)
    } else {
        check_len("operator input", input, i)?;
        check_len("operator output", output, o)
    }
}
