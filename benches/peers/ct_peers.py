"""Times ASTRA (CPU, Joseph "linear" projector) and scikit-image on the CT toolbox's bench
problem: 200 angles at the midpoints of [-70°, 70°], N detector bins on [-1/2, 1/2] of an
N×N image of the unit square, single precision. Also reports FBP's PSNR on limited-view
Shepp-Logan from a sinogram written by `funknn ct simulate`, if one is given.

    python benches/peers/ct_peers.py [SINO.safetensors TRUTH.safetensors]

Needs numpy, scipy, scikit-image, astra-toolbox (and safetensors for the PSNR part), in a
virtual environment outside the repository.
"""
import sys
import time

import numpy as np


def best(f, reps=20):
    f()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def geometry(n):
    angles = np.deg2rad(-70 + (np.arange(200) + 0.5) * 140 / 200)
    return angles


def astra_ops(n, angles, sino_shape_bins=None):
    import astra

    bins = sino_shape_bins or n
    # Unit square sampled on n pixels: ASTRA works in pixel units, so the detector spacing is
    # n/bins pixels and line integrals come out in pixels (divide by n for unit lengths).
    vol = astra.create_vol_geom(n, n)
    # ASTRA's angle convention differs from ours by a rotation/flip; timing does not care,
    # and for the PSNR part we map our angles (see below).
    proj = astra.create_proj_geom("parallel", n / bins, bins, angles)
    pid = astra.create_projector("linear", proj, vol)
    return astra, vol, proj, pid


def main():
    import astra
    import skimage
    from skimage.transform import iradon, radon

    print(f"astra {astra.__version__}, scikit-image {skimage.__version__}, numpy {np.__version__}")
    for n in (128, 256):
        angles = geometry(n)
        x = np.random.default_rng(0).random((n, n)).astype(np.float32)
        yy, xx = np.mgrid[:n, :n]
        x[(xx - n / 2 + 0.5) ** 2 + (yy - n / 2 + 0.5) ** 2 > (n / 2) ** 2] = 0  # skimage's circle
        astra, vol, proj, pid = astra_ops(n, angles)
        sid, sino = astra.create_sino(x, pid)
        astra.data2d.delete(sid)
        fwd = best(lambda: astra.data2d.delete(astra.create_sino(x, pid)[0]))
        bwd = best(lambda: astra.data2d.delete(astra.create_backprojection(sino, pid)[0]))

        def fbp_astra():
            sid = astra.data2d.create("-sino", proj, sino)
            rid = astra.data2d.create("-vol", vol)
            cfg = astra.astra_dict("FBP")
            cfg["ProjectorId"] = pid
            cfg["ProjectionDataId"] = sid
            cfg["ReconstructionDataId"] = rid
            aid = astra.algorithm.create(cfg)
            astra.algorithm.run(aid)
            astra.algorithm.delete(aid)
            astra.data2d.delete([sid, rid])

        fbp = best(fbp_astra)
        deg = np.rad2deg(angles)
        sk_fwd = best(lambda: radon(x, theta=deg, circle=True), reps=5)
        sk_sino = radon(x, theta=deg, circle=True)
        sk_bwd = best(lambda: iradon(sk_sino, theta=deg, filter_name=None, circle=True), reps=5)
        sk_fbp = best(lambda: iradon(sk_sino, theta=deg, filter_name="ramp", circle=True), reps=5)
        print(
            f"{n}²: ASTRA forward {fwd:.2f} ms, adjoint {bwd:.2f} ms, FBP {fbp:.2f} ms; "
            f"skimage radon {sk_fwd:.2f} ms, iradon (no filter) {sk_bwd:.2f} ms, FBP {sk_fbp:.2f} ms"
        )
        astra.projector.delete(pid)

    if len(sys.argv) == 3:
        from safetensors.numpy import load_file

        s = load_file(sys.argv[1])
        truth = load_file(sys.argv[2])["image"][0].astype(np.float64)
        sino, ang, off = s["sinogram"], s["angles"], s["offsets"]
        n = truth.shape[0]
        bins = sino.shape[1]
        # Our ray (θ, s) is the line through (½,½) + s(cos θ, sin θ) with y downwards.
        # ASTRA's parallel ray at angle φ has direction (sin φ, −cos φ) in (x, y-up) and
        # detector axis (cos φ, sin φ), y up; with y down our direction (−sin θ, cos θ)
        # matches for φ = −θ... we find the mapping numerically below instead of trusting it.
        vol = astra.create_vol_geom(n, n)
        best_psnr = None
        # The conventions differ (angle origin and sense, image axes); rather than trust a
        # derivation, try the 8 angle maps and 8 image symmetries and keep the best fit.
        for sign in (1, -1):
            for shift in (0.0, np.pi / 2, np.pi, -np.pi / 2):
                proj = astra.create_proj_geom(
                    "parallel", n * float(off[1] - off[0]), bins, sign * ang.astype(np.float64) + shift
                )
                pid = astra.create_projector("linear", proj, vol)
                # Unit lengths to pixel lengths: then the image comes out in our units.
                sid = astra.data2d.create("-sino", proj, sino * n)
                rid = astra.data2d.create("-vol", vol)
                cfg = astra.astra_dict("FBP")
                cfg["ProjectorId"] = pid
                cfg["ProjectionDataId"] = sid
                cfg["ReconstructionDataId"] = rid
                aid = astra.algorithm.create(cfg)
                astra.algorithm.run(aid)
                rec0 = astra.data2d.get(rid).astype(np.float64)
                astra.algorithm.delete(aid)
                astra.data2d.delete([sid, rid])
                astra.projector.delete(pid)
                for k in range(8):
                    rec = np.rot90(rec0, k % 4)
                    if k >= 4:
                        rec = rec.T
                    mse = np.mean((rec - truth) ** 2)
                    psnr = 10 * np.log10((truth.max() - truth.min()) ** 2 / mse)
                    # ASTRA weights every angle by π/A, as if they covered π; ODL (and we)
                    # weight by the angle cell, (A·Δθ)/A: the same image times A·Δθ/π.
                    cover = len(ang) * float(ang[1] - ang[0]) / np.pi
                    mse_odl = np.mean((rec * cover - truth) ** 2)
                    psnr_odl = 10 * np.log10((truth.max() - truth.min()) ** 2 / mse_odl)
                    if best_psnr is None or psnr > best_psnr[0]:
                        scale = float(np.sum(rec * truth) / np.sum(rec * rec))
                        best_psnr = (psnr, sign, shift, k, scale, psnr_odl)
        print(f"ASTRA FBP (Ram-Lak) on the same sinogram: PSNR {best_psnr[0]:.2f} dB "
              f"(angle map θ → {best_psnr[1]}·θ + {best_psnr[2]:.3f}, image symmetry {best_psnr[3]}, "
              f"least-squares scale {best_psnr[4]:.3f}); with ODL's angle weights: "
              f"{best_psnr[5]:.2f} dB")


if __name__ == "__main__":
    main()
