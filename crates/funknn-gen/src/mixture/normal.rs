//! The standard normal distribution function and its inverse, in f64: what maps one base
//! number to a uniform choice of component and back to a normal number.

// The coefficients as published, digit for digit.
#![allow(clippy::excessive_precision)]

/// `Φ(x)`, from `erfc` (relative error below 1e-14 away from the far tail).
pub(crate) fn cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// `erfc(x)` by W. J. Cody's rational approximations (as in most libm's).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let r = if z < 0.5 {
        return 1.0 - erf_small(x);
    } else if z < 4.0 {
        const P: [f64; 9] = [
            5.641_884_969_886_701e-1,
            8.883_149_794_388_376,
            6.611_919_063_714_163e1,
            2.986_351_381_974_001e2,
            8.819_522_212_417_691e2,
            1.712_047_612_634_070_7e3,
            2.051_078_377_826_071_6e3,
            1.230_339_354_797_997_2e3,
            2.153_115_354_744_038_3e-8,
        ];
        const Q: [f64; 8] = [
            1.574_492_611_070_983_5e1,
            1.176_939_508_913_125e2,
            5.371_811_018_620_099e2,
            1.621_389_574_566_690_3e3,
            3.290_799_235_733_459_7e3,
            4.362_619_090_143_247e3,
            3.439_367_674_143_721_6e3,
            1.230_339_354_803_749_5e3,
        ];
        let mut num = P[8] * z;
        let mut den = z;
        for i in 0..7 {
            num = (num + P[i]) * z;
            den = (den + Q[i]) * z;
        }
        (num + P[7]) / (den + Q[7]) * (-z * z).exp()
    } else {
        const P: [f64; 6] = [
            3.053_266_349_612_323_6e-1,
            3.603_448_999_498_044_4e-1,
            1.257_817_261_112_292_6e-1,
            1.608_378_514_874_227_5e-2,
            6.587_491_615_298_378e-4,
            1.631_538_713_730_209_7e-2,
        ];
        const Q: [f64; 5] = [
            2.568_520_192_289_822,
            1.872_952_849_923_460_4,
            5.279_051_029_514_284e-1,
            6.051_834_131_244_132e-2,
            2.335_204_976_268_691_8e-3,
        ];
        let zi = 1.0 / (z * z);
        let mut num = P[5] * zi;
        let mut den = zi;
        for i in 0..4 {
            num = (num + P[i]) * zi;
            den = (den + Q[i]) * zi;
        }
        let r = zi * (num + P[4]) / (den + Q[4]);
        let frac_1_sqrt_pi = 0.564_189_583_547_756_3;
        (frac_1_sqrt_pi - r) / z * (-z * z).exp()
    };
    if x < 0.0 {
        2.0 - r
    } else {
        r
    }
}

/// `erf(x)` for |x| < 0.5.
fn erf_small(x: f64) -> f64 {
    const A: [f64; 5] = [
        3.161_123_743_870_565_6,
        1.138_641_541_510_501_6e2,
        3.774_852_376_853_020_2e2,
        3.209_377_589_138_469_5e3,
        1.857_777_061_846_031_5e-1,
    ];
    const B: [f64; 4] = [
        2.360_129_095_234_412_2e1,
        2.440_246_379_344_441_7e2,
        1.282_616_526_077_372_3e3,
        2.844_236_833_439_170_6e3,
    ];
    let z = x * x;
    let mut num = A[4] * z;
    let mut den = z;
    for i in 0..3 {
        num = (num + A[i]) * z;
        den = (den + B[i]) * z;
    }
    x * (num + A[3]) / (den + B[3])
}

/// `Φ⁻¹(p)` for p in (0, 1): Acklam's approximation, refined by one Halley step on `cdf`
/// (about 1e-15 relative).
pub(crate) fn quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let low = 0.02425;
    let x = if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let e = cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_matches_known_values_and_quantile_inverts_it() {
        // Φ at 0, 1, 1.96, −3 and 5 (tables, 15 digits).
        for (x, p) in [
            (0.0, 0.5),
            (1.0, 0.841_344_746_068_543),
            (1.96, 0.975_002_104_851_780),
            (-3.0, 0.001_349_898_031_630_095),
            (5.0, 0.999_999_713_348_428),
        ] {
            assert!((cdf(x) - p).abs() < 1e-14, "Φ({x}) = {}", cdf(x));
        }
        for p in [1e-12, 1e-6, 0.01, 0.3, 0.5, 0.77, 0.999, 1.0 - 1e-9] {
            let x = quantile(p);
            assert!(
                (cdf(x) - p).abs() < 1e-13 * p.max(1e-3),
                "Φ(Φ⁻¹({p})) = {}",
                cdf(x)
            );
        }
    }
}
