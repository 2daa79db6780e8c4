//! Building operators from others: a scalar multiple, and a vertical stack.

use super::{check_io, LinearOperator};
use crate::{Result, Scalar};

/// `c · A`.
pub struct Scaled<'a, T: Scalar> {
    op: &'a dyn LinearOperator<T>,
    factor: T,
}

impl<'a, T: Scalar> Scaled<'a, T> {
    /// `factor · op`.
    pub fn new(op: &'a dyn LinearOperator<T>, factor: T) -> Self {
        Scaled { op, factor }
    }
}

impl<T: Scalar> LinearOperator<T> for Scaled<'_, T> {
    fn domain(&self) -> Vec<usize> {
        self.op.domain()
    }
    fn range(&self) -> Vec<usize> {
        self.op.range()
    }
    fn apply(&self, x: &[T], y: &mut [T]) -> Result<()> {
        self.op.apply(x, y)?;
        y.iter_mut().for_each(|v| *v *= self.factor);
        Ok(())
    }
    fn adjoint(&self, y: &[T], x: &mut [T]) -> Result<()> {
        self.op.adjoint(y, x)?;
        x.iter_mut().for_each(|v| *v *= self.factor);
        Ok(())
    }
}

/// `[A₁; A₂; …]`: operators with the same domain, outputs concatenated (range `[Σ len]`).
pub struct Stacked<'a, T: Scalar> {
    ops: Vec<&'a dyn LinearOperator<T>>,
}

impl<'a, T: Scalar> Stacked<'a, T> {
    /// The stack; all operators must share a domain length.
    pub fn new(ops: Vec<&'a dyn LinearOperator<T>>) -> Result<Self> {
        let Some(first) = ops.first() else {
            return Err(crate::Error::invalid("stack", "no operators"));
        };
        let n = first.domain_len();
        for op in &ops {
            crate::error::check_len("stacked operator domain", op.domain_len(), n)?;
        }
        Ok(Stacked { ops })
    }
}

impl<T: Scalar> LinearOperator<T> for Stacked<'_, T> {
    fn domain(&self) -> Vec<usize> {
        self.ops[0].domain()
    }
    fn range(&self) -> Vec<usize> {
        vec![self.ops.iter().map(|o| o.range_len()).sum()]
    }
    fn apply(&self, x: &[T], y: &mut [T]) -> Result<()> {
        check_io::<T, _>(self, x.len(), y.len(), false)?;
        let mut rest = y;
        for op in &self.ops {
            let (head, tail) = rest.split_at_mut(op.range_len());
            op.apply(x, head)?;
            rest = tail;
        }
        Ok(())
    }
    fn adjoint(&self, y: &[T], x: &mut [T]) -> Result<()> {
        check_io::<T, _>(self, y.len(), x.len(), true)?;
        x.fill(T::zero());
        let mut part = vec![T::zero(); x.len()];
        let mut start = 0;
        for op in &self.ops {
            let n = op.range_len();
            op.adjoint(&y[start..start + n], &mut part)?;
            x.iter_mut().zip(&part).for_each(|(a, &b)| *a += b);
            start += n;
        }
        Ok(())
    }
}
