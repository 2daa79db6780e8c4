"""ASTRA's accuracy on the CT toolbox's closed-form check: the pixel-averaged disc (radius
0.25, centre (0.6, 0.45)) at 128² and 256², 200 angles in ±70°, N bins, against its exact
sinogram, with ASTRA 2.5's CPU projectors `linear` (Joseph), `line` (exact intersection
lengths) and `strip` (pixel ∩ detector-strip areas); and side by side with this crate's
linear and exact sinograms of the same image. The inputs come from

    cargo run --release -p funknn-inverse --example disc_sinograms -- DIR
    python benches/peers/ct_disc_astra.py DIR

ASTRA's angle and axis conventions differ from ours; the map is found numerically (the one
of 64 candidates with the smallest error, on 128² with `linear`).
"""
import sys

import astra
import numpy as np

DIR = sys.argv[1] if len(sys.argv) > 1 else "."


def load(name, n, shape=None):
    a = np.fromfile(f"{DIR}/{name}_{n}.f64", dtype="<f8")
    return a.reshape(shape) if shape else a


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def project(img, angles, n, kind):
    vol = astra.create_vol_geom(n, n)
    proj = astra.create_proj_geom("parallel", 1.0, n, angles)
    pid = astra.create_projector(kind, proj, vol)
    sid, sino = astra.create_sino(img.astype(np.float32), pid)
    astra.data2d.delete(sid)
    astra.projector.delete(pid)
    return sino.astype(np.float64) / n  # pixel lengths to unit lengths


def symmetry(img, k):
    im = np.rot90(img, k % 4)
    return np.ascontiguousarray(im.T if k >= 4 else im)


def main():
    print("astra", astra.__version__)
    n = 128
    img, exact, th = load("image", n, (n, n)), load("sino", n, (200, n)), load("angles", n)
    best = None
    for sign in (1, -1):
        for shift in (0.0, np.pi / 2, np.pi, -np.pi / 2):
            for k in range(8):
                s = project(symmetry(img, k), sign * th + shift, n, "linear")
                for flip in (False, True):
                    e = rel(s[:, ::-1] if flip else s, exact)
                    if best is None or e < best[0]:
                        best = (e, sign, shift, k, flip)
    _, sign, shift, k, flip = best
    print(f"map: angle → {sign}·θ + {shift:.4f}, image symmetry {k}, detector flipped {flip}")
    for n in (128, 256):
        img, exact, th = load("image", n, (n, n)), load("sino", n, (200, n)), load("angles", n)
        sinos = {}
        for kind in ("linear", "line", "strip"):
            s = project(symmetry(img, k), sign * th + shift, n, kind)
            sinos[kind] = s[:, ::-1] if flip else s
            print(f"{n}² ASTRA {kind:6s}: {100 * rel(sinos[kind], exact):.4f} % off the closed form")
        for kind, ours in (("linear", "ours_linear"), ("line", "ours_exact")):
            o = load(ours, n, (200, n))
            print(f"{n}² ASTRA {kind} vs funknn {ours}: relative L2 {rel(sinos[kind], o):.1e} "
                  f"(ASTRA computes in f32)")


if __name__ == "__main__":
    main()
