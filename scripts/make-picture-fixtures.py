# Makes the picture fixtures of tests/fixtures/pictures from docs/examples/astronaut-128.png
# (NASA, public domain, via scikit-image). Run with Pillow 13 and numpy.
import numpy as np, json
from PIL import Image
src = Image.open('docs/examples/astronaut-128.png').convert('RGB')
crop = src.crop((16, 8, 16+96, 8+72)).resize((32, 24), Image.LANCZOS)
rgb = np.asarray(crop).astype(np.uint8)
h, w, _ = rgb.shape
yy, xx = np.mgrid[0:h, 0:w]
r = np.hypot((xx+0.5)/w-0.5, (yy+0.5)/h-0.5)
alpha = np.clip((0.4 - r)/0.08, 0, 1)
a8 = np.round(alpha*255).astype(np.uint8)
grey = np.asarray(crop.convert('L')).astype(np.uint8)
out = 'tests/fixtures/pictures/'
manifest = {}
def note(name, arr, depth, alpha_ch):
    arr = np.asarray(arr)
    if arr.ndim == 2: arr = arr[:, :, None]
    manifest[name] = dict(width=int(arr.shape[1]), height=int(arr.shape[0]), channels=int(arr.shape[2]),
        alpha=alpha_ch, depth=depth, sum=int(arr.astype(np.int64).sum()),
        first=[int(v) for v in arr[0,0]], last=[int(v) for v in arr[-1,-1]])
Image.fromarray(np.dstack([rgb, a8]), 'RGBA').save(out+'rgba.png'); note('rgba.png', np.dstack([rgb,a8]), 8, True)
Image.fromarray(np.dstack([grey, a8]), 'LA').save(out+'grey-alpha.png'); note('grey-alpha.png', np.dstack([grey,a8]), 8, True)
g16 = (grey.astype(np.uint16)*257 + (xx*7 % 200).astype(np.uint16)).astype(np.uint16)
Image.fromarray(g16).save(out+'grey16.png'); note('grey16.png', g16, 16, False)
Image.fromarray(g16).save(out+'grey16.tif'); note('grey16.tif', g16, 16, False)
Image.fromarray(rgb, 'RGB').save(out+'rgb.tif'); note('rgb.tif', rgb, 8, False)
Image.fromarray(rgb, 'RGB').save(out+'rgb.webp', lossless=True); note('rgb.webp', rgb, 8, False)
Image.fromarray(np.dstack([rgb, a8]), 'RGBA').save(out+'rgba.webp', lossless=True, exact=True); note('rgba.webp', np.dstack([rgb,a8]), 8, True)
Image.fromarray(rgb, 'RGB').save(out+'rgb.bmp'); note('rgb.bmp', rgb, 8, False)
pal = crop.quantize(16)
pal.save(out+'palette.png'); note('palette.png', np.asarray(pal.convert('RGB')), 8, False)
Image.fromarray(rgb, 'RGB').save(out+'upright.png'); note('upright.png', rgb, 8, False)
# EXIF orientation 6: the stored pixels are the upright picture turned 90° counter-clockwise;
# a viewer turns them 90° clockwise to show it upright.
stored = Image.fromarray(rgb, 'RGB').transpose(Image.ROTATE_90)
exif = Image.Exif(); exif[0x0112] = 6
stored.save(out+'exif-orientation-6.jpg', quality=95, exif=exif.tobytes())
manifest['exif-orientation-6.jpg'] = dict(width=w, height=h, channels=3, alpha=False, depth=8, lossy=True, upright='upright.png')
json.dump(manifest, open(out+'manifest.json', 'w'), indent=1)
