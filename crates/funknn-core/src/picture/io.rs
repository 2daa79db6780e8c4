//! Picture files in and out. Read: PNG, JPEG, WebP, TIFF and BMP (8- and 16-bit; grey,
//! grey+alpha, RGB, RGBA, palette), upright by their EXIF orientation; or `.safetensors`
//! arrays. Written: PNG, JPEG, TIFF and lossless WebP, chosen by the output's extension.

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::fs::write_atomic;
use crate::{Error, Result};

fn is_safetensors(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

/// Bits per sample of a picture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BitDepth {
    /// 8 bits per sample (0–255).
    Eight,
    /// 16 bits per sample (0–65535). Floating-point files read as this depth too.
    Sixteen,
}

impl BitDepth {
    /// The largest sample value: 255 or 65535.
    pub fn max_value(self) -> f32 {
        match self {
            BitDepth::Eight => 255.0,
            BitDepth::Sixteen => 65535.0,
        }
    }
}

/// A picture as a file holds it: its colour channels and, if it has one, its alpha channel
/// as f32 in [0, 1], and the bit depth it was stored with.
#[derive(Debug, Clone)]
pub struct Picture {
    /// `(C, H, W)`: C = 1 for grey pictures, 3 for colour ones (palettes are expanded).
    pub colour: Tensor,
    /// `(1, H, W)`, straight (not premultiplied), when the file has an alpha channel.
    pub alpha: Option<Tensor>,
    /// The file's bits per sample.
    pub depth: BitDepth,
}

impl Picture {
    /// Decodes a PNG, JPEG, WebP, TIFF or BMP file (8- or 16-bit; grey, grey+alpha, RGB,
    /// RGBA or palette), recognised by its content rather than its name, and turns it
    /// upright by its EXIF orientation. A missing, truncated or undecodable file is an error
    /// naming it.
    pub fn read(path: &Path, device: &Device) -> Result<Picture> {
        let img = decode(path)?;
        let (w, h) = (img.width() as usize, img.height() as usize);
        let colour_type = img.color();
        let grey = !colour_type.has_color();
        let has_alpha = colour_type.has_alpha();
        let bytes_per_sample = colour_type.bytes_per_pixel() / colour_type.channel_count();
        let depth = if bytes_per_sample > 1 {
            BitDepth::Sixteen
        } else {
            BitDepth::Eight
        };
        let channels = if grey { 1 } else { 3 } + usize::from(has_alpha);
        let samples = match depth {
            // The exact path of earlier versions for 8-bit files: the same bits.
            BitDepth::Eight => {
                let data = match (grey, has_alpha) {
                    (true, false) => img.to_luma8().into_raw(),
                    (true, true) => img.to_luma_alpha8().into_raw(),
                    (false, false) => img.to_rgb8().into_raw(),
                    (false, true) => img.to_rgba8().into_raw(),
                };
                Tensor::from_vec(data, (h, w, channels), &Device::Cpu)?
                    .permute((2, 0, 1))?
                    .to_dtype(DType::F32)?
                    .affine(1.0 / 255.0, 0.0)?
            }
            // candle has no u16 dtype: scale on the host.
            BitDepth::Sixteen => {
                let data = match (grey, has_alpha) {
                    (true, false) => img.to_luma16().into_raw(),
                    (true, true) => img.to_luma_alpha16().into_raw(),
                    (false, false) => img.to_rgb16().into_raw(),
                    (false, true) => img.to_rgba16().into_raw(),
                };
                let data: Vec<f32> = data.iter().map(|&v| f32::from(v) / 65535.0).collect();
                Tensor::from_vec(data, (h, w, channels), &Device::Cpu)?.permute((2, 0, 1))?
            }
        };
        let colour_channels = channels - usize::from(has_alpha);
        let colour = samples.narrow(0, 0, colour_channels)?.contiguous()?;
        let alpha = if has_alpha {
            Some(
                samples
                    .narrow(0, colour_channels, 1)?
                    .contiguous()?
                    .to_device(device)?,
            )
        } else {
            None
        };
        Ok(Picture {
            colour: colour.to_device(device)?,
            alpha,
            depth,
        })
    }
}

/// Whether `path` names a picture file by its extension: what folders of pictures
/// (training data, evaluation sets) are made of.
pub fn is_picture_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| {
        matches!(
            e.to_string_lossy().to_ascii_lowercase().as_str(),
            "png" | "jpg" | "jpeg" | "webp" | "tif" | "tiff" | "bmp"
        )
    })
}

/// Reads and decodes a picture file, upright.
fn decode(path: &Path) -> Result<image::DynamicImage> {
    use image::ImageDecoder;
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let cannot = |e: image::ImageError| Error::picture(path, format!("cannot decode: {e}"));
    let reader = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    if reader.format().is_none() {
        return Err(Error::picture(
            path,
            "not a picture file funknn reads (PNG, JPEG, WebP, TIFF or BMP)",
        ));
    }
    let mut decoder = reader.into_decoder().map_err(cannot)?;
    // A file whose orientation tag is unreadable is still a picture: take it as stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(cannot)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// The colour channels of a picture file as `(C, H, W)` f32 in [0, 1]: C = 1 for grey
/// pictures, 3 otherwise; an alpha channel is left out (see [`Picture::read`] to keep it).
pub fn read_picture(path: &Path, device: &Device) -> Result<Tensor> {
    Ok(Picture::read(path, device)?.colour)
}

/// Reads images as `(N, C, H, W)` f32: a picture file (N = 1; its colour channels), or a `.safetensors` file whose
/// tensor `image` is `(C, H, W)` or `(N, C, H, W)`.
pub fn read_images(path: &Path, device: &Device) -> Result<Tensor> {
    if !is_safetensors(path) {
        return Ok(read_picture(path, device)?.unsqueeze(0)?);
    }
    if !path.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    let mut tensors = candle_core::safetensors::load(path, device).map_err(|e| Error::Invalid {
        what: "image",
        message: format!("{}: not a readable safetensors file: {e}", path.display()),
    })?;
    let image = tensors.remove("image").ok_or_else(|| Error::Invalid {
        what: "image",
        message: format!("{}: no tensor named \"image\"", path.display()),
    })?;
    let image = match image.rank() {
        3 => image.unsqueeze(0)?,
        4 => image,
        _ => {
            return Err(Error::Shape {
                name: "image",
                expected: "(C, H, W) or (N, C, H, W)".into(),
                got: image.dims().to_vec(),
            })
        }
    };
    Ok(image.to_dtype(DType::F32)?)
}

/// Converts `(N, C, H, W)` images between grey and RGB to have `channels` channels
/// (luma with Rec. 601 weights, or grey replicated). Other mismatches are errors.
pub fn match_channels(images: &Tensor, channels: usize) -> Result<Tensor> {
    let c = images.dim(1)?;
    match (c, channels) {
        (a, b) if a == b => Ok(images.clone()),
        (1, 3) => Ok(images.repeat((1, 3, 1, 1))?),
        (3, 1) => {
            let w = Tensor::new(&[0.299f32, 0.587, 0.114], images.device())?
                .to_dtype(images.dtype())?
                .reshape((1, 3, 1, 1))?;
            Ok(images.broadcast_mul(&w)?.sum_keepdim(1)?)
        }
        _ => Err(Error::Shape {
            name: "image",
            expected: format!("{channels} channels for this model"),
            got: images.dims().to_vec(),
        }),
    }
}

/// The file formats pictures are written in, chosen by the output's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureFormat {
    /// `.png`: 8- or 16-bit, any channels.
    Png,
    /// `.jpg`, `.jpeg`: 8-bit grey or RGB, lossy (see [`WriteOptions::jpeg_quality`]).
    Jpeg,
    /// `.tif`, `.tiff`: 8- or 16-bit grey, RGB or RGBA (grey+alpha is written as RGBA: the
    /// encoder has no grey+alpha layout).
    Tiff,
    /// `.webp`: 8-bit, any channels, lossless.
    WebP,
}

impl PictureFormat {
    /// The format for `path`'s extension; an error lists the ones accepted.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("png") => Ok(PictureFormat::Png),
            Some("jpg" | "jpeg") => Ok(PictureFormat::Jpeg),
            Some("tif" | "tiff") => Ok(PictureFormat::Tiff),
            Some("webp") => Ok(PictureFormat::WebP),
            _ => Err(Error::picture(
                path,
                "the output must end in .png, .jpg, .jpeg, .tif, .tiff or .webp",
            )),
        }
    }

    /// Whether the format stores an alpha channel.
    pub fn holds_alpha(self) -> bool {
        self != PictureFormat::Jpeg
    }

    /// Whether the format stores 16-bit samples.
    pub fn holds_16_bit(self) -> bool {
        matches!(self, PictureFormat::Png | PictureFormat::Tiff)
    }
}

/// Quantised samples, pixel-major with channels interleaved, as encoders want them.
#[derive(Debug, Clone, PartialEq)]
pub enum Samples {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

impl Samples {
    /// No samples yet, at `depth`.
    pub fn new(depth: BitDepth) -> Self {
        match depth {
            BitDepth::Eight => Samples::U8(Vec::new()),
            BitDepth::Sixteen => Samples::U16(Vec::new()),
        }
    }

    pub fn depth(&self) -> BitDepth {
        match self {
            Samples::U8(_) => BitDepth::Eight,
            Samples::U16(_) => BitDepth::Sixteen,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Samples::U8(v) => v.len(),
            Samples::U16(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends intensities, clamped to [0, 1] and rounded to the nearest level.
    pub fn push_values(&mut self, values: &[f32]) {
        match self {
            Samples::U8(v) => v.extend(
                values
                    .iter()
                    .map(|&x| (x.clamp(0.0, 1.0) * 255.0).round() as u8),
            ),
            Samples::U16(v) => v.extend(
                values
                    .iter()
                    .map(|&x| (x.clamp(0.0, 1.0) * 65535.0).round() as u16),
            ),
        }
    }

    /// Pixels of `keep` channels taken from the first ones of `colour` (`channels` per
    /// pixel), followed by one `alpha` sample each when given: e.g. grey from a model's
    /// replicated RGB, or RGB plus a separately rendered alpha.
    pub fn compose(
        colour: &Samples,
        channels: usize,
        keep: usize,
        alpha: Option<&Samples>,
    ) -> Result<Samples> {
        fn mix<T: Copy>(colour: &[T], c: usize, keep: usize, alpha: Option<&[T]>) -> Vec<T> {
            let mut out = Vec::with_capacity(colour.len() / c * (keep + 1));
            for (i, pixel) in colour.chunks_exact(c).enumerate() {
                out.extend_from_slice(&pixel[..keep]);
                if let Some(a) = alpha {
                    out.push(a[i]);
                }
            }
            out
        }
        if channels == 0 || keep == 0 || keep > channels || !colour.len().is_multiple_of(channels) {
            return Err(Error::invalid(
                "samples",
                format!(
                    "cannot keep {keep} of {channels} channels of {} samples",
                    colour.len()
                ),
            ));
        }
        if let Some(a) = alpha {
            if a.len() * channels != colour.len() || a.depth() != colour.depth() {
                return Err(Error::invalid(
                    "samples",
                    "the alpha channel does not match the colour samples",
                ));
            }
        }
        Ok(match (colour, alpha) {
            (Samples::U8(c), None) => Samples::U8(mix(c, channels, keep, None)),
            (Samples::U8(c), Some(Samples::U8(a))) => Samples::U8(mix(c, channels, keep, Some(a))),
            (Samples::U16(c), None) => Samples::U16(mix(c, channels, keep, None)),
            (Samples::U16(c), Some(Samples::U16(a))) => {
                Samples::U16(mix(c, channels, keep, Some(a)))
            }
            _ => unreachable!("depths checked above"),
        })
    }
}

/// A picture ready to encode: `width × height` pixels of `channels` samples (1 grey, 2 grey
/// and alpha, 3 RGB, 4 RGBA).
#[derive(Debug, Clone, PartialEq)]
pub struct Raster {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub samples: Samples,
}

impl Raster {
    /// Checks that the samples fill the size.
    pub fn new(width: usize, height: usize, channels: usize, samples: Samples) -> Result<Self> {
        if !(1..=4).contains(&channels) {
            return Err(Error::invalid(
                "picture",
                format!("{channels} channels: a picture has 1 to 4"),
            ));
        }
        if width == 0 || height == 0 || width > u32::MAX as usize || height > u32::MAX as usize {
            return Err(Error::invalid(
                "picture",
                format!("{width}×{height} is not a picture size"),
            ));
        }
        let expected = width * height * channels;
        if samples.len() != expected {
            return Err(Error::invalid(
                "picture",
                format!(
                    "{} samples for {width}×{height}×{channels} ({expected})",
                    samples.len()
                ),
            ));
        }
        Ok(Raster {
            width,
            height,
            channels,
            samples,
        })
    }

    pub fn depth(&self) -> BitDepth {
        self.samples.depth()
    }

    pub fn has_alpha(&self) -> bool {
        self.channels.is_multiple_of(2)
    }

    /// Grey+alpha as RGBA (grey replicated), for encoders without a grey+alpha layout.
    fn grey_alpha_as_rgba(&self) -> Raster {
        fn expand<T: Copy>(v: &[T]) -> Vec<T> {
            v.chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect()
        }
        let samples = match &self.samples {
            Samples::U8(v) => Samples::U8(expand(v)),
            Samples::U16(v) => Samples::U16(expand(v)),
        };
        Raster {
            channels: 4,
            samples,
            ..*self
        }
    }
}

/// How pictures are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// JPEG quality, 1–100 (75, the `image` crate's default, by default).
    pub jpeg_quality: u8,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions { jpeg_quality: 75 }
    }
}

/// Encodes `raster` in the format of `path`'s extension and writes it atomically: a
/// failure leaves no file. A JPEG with alpha or 16-bit samples, and 16-bit WebP, are errors
/// that say which formats hold them.
pub fn write_picture(path: &Path, raster: &Raster, options: &WriteOptions) -> Result<()> {
    use image::codecs::webp::WebPEncoder;
    use image::codecs::{jpeg::JpegEncoder, png::PngEncoder, tiff::TiffEncoder};
    use image::{ExtendedColorType as Layout, ImageEncoder};

    let format = PictureFormat::from_path(path)?;
    if raster.has_alpha() && !format.holds_alpha() {
        return Err(Error::picture(
            path,
            "JPEG holds no alpha channel: write .png, .tif or .webp, or drop the alpha",
        ));
    }
    if raster.depth() == BitDepth::Sixteen && !format.holds_16_bit() {
        return Err(Error::picture(
            path,
            format!("{format:?} holds 8-bit samples only: write .png or .tif for 16 bits"),
        ));
    }
    if !(1..=100).contains(&options.jpeg_quality) {
        return Err(Error::invalid(
            "JPEG quality",
            format!("{}: must be 1 to 100", options.jpeg_quality),
        ));
    }
    let expanded;
    let raster = if format == PictureFormat::Tiff && raster.channels == 2 {
        expanded = raster.grey_alpha_as_rgba();
        &expanded
    } else {
        raster
    };
    let layout = match (raster.depth(), raster.channels) {
        (BitDepth::Eight, 1) => Layout::L8,
        (BitDepth::Eight, 2) => Layout::La8,
        (BitDepth::Eight, 3) => Layout::Rgb8,
        (BitDepth::Eight, _) => Layout::Rgba8,
        (BitDepth::Sixteen, 1) => Layout::L16,
        (BitDepth::Sixteen, 2) => Layout::La16,
        (BitDepth::Sixteen, 3) => Layout::Rgb16,
        (BitDepth::Sixteen, _) => Layout::Rgba16,
    };
    // Encoders take 16-bit samples as native-endian bytes.
    let bytes: std::borrow::Cow<[u8]> = match &raster.samples {
        Samples::U8(v) => v.as_slice().into(),
        Samples::U16(v) => v
            .iter()
            .flat_map(|s| s.to_ne_bytes())
            .collect::<Vec<u8>>()
            .into(),
    };
    let (w, h) = (raster.width as u32, raster.height as u32);
    let mut encoded = std::io::Cursor::new(Vec::new());
    let result = match format {
        PictureFormat::Png => PngEncoder::new(&mut encoded).write_image(&bytes, w, h, layout),
        PictureFormat::Jpeg => JpegEncoder::new_with_quality(&mut encoded, options.jpeg_quality)
            .write_image(&bytes, w, h, layout),
        PictureFormat::Tiff => TiffEncoder::new(&mut encoded).write_image(&bytes, w, h, layout),
        PictureFormat::WebP => {
            WebPEncoder::new_lossless(&mut encoded).write_image(&bytes, w, h, layout)
        }
    };
    result.map_err(|e| Error::picture(path, format!("cannot encode: {e}")))?;
    write_atomic(path, |tmp| {
        std::fs::write(tmp, encoded.get_ref()).map_err(|e| Error::io(tmp, e))
    })
}

impl Raster {
    /// An image `(C, H, W)` (C = 1 or 3) with intensities in [0, 1], clamped and quantised
    /// to `depth`.
    pub fn from_tensor(image: &Tensor, depth: BitDepth) -> Result<Raster> {
        let (c, h, w) = image.dims3().map_err(|_| Error::Shape {
            name: "image",
            expected: "(C, H, W)".into(),
            got: image.dims().to_vec(),
        })?;
        let values: Vec<f32> = image
            .to_dtype(DType::F32)?
            .permute((1, 2, 0))?
            .flatten_all()?
            .to_vec1()?;
        let mut samples = Samples::new(depth);
        samples.push_values(&values);
        Raster::new(w, h, c, samples)
    }

    /// `tiles` (all of one size, layout and depth) in a grid of `columns`, `gap` pixels apart
    /// on white: a contact sheet.
    pub fn contact_sheet(tiles: &[Raster], columns: usize, gap: usize) -> Result<Raster> {
        let first = tiles
            .first()
            .ok_or_else(|| Error::invalid("contact sheet", "no pictures"))?;
        if columns == 0 {
            return Err(Error::invalid("contact sheet", "no columns"));
        }
        let (tw, th, c) = (first.width, first.height, first.channels);
        if let Some(bad) = tiles
            .iter()
            .position(|t| (t.width, t.height, t.channels, t.depth()) != (tw, th, c, first.depth()))
        {
            return Err(Error::invalid(
                "contact sheet",
                format!("picture {bad} differs in size, channels or depth from the first"),
            ));
        }
        let columns = columns.min(tiles.len());
        let rows = tiles.len().div_ceil(columns);
        let width = columns * tw + (columns + 1) * gap;
        let height = rows * th + (rows + 1) * gap;
        fn place<T: Copy>(
            out: &mut [T],
            tile: &[T],
            (x0, y0): (usize, usize),
            (tw, th, c, width): (usize, usize, usize, usize),
        ) {
            for y in 0..th {
                let dst = ((y0 + y) * width + x0) * c;
                out[dst..dst + tw * c].copy_from_slice(&tile[y * tw * c..(y + 1) * tw * c]);
            }
        }
        let geometry = (tw, th, c, width);
        let origin = |i: usize| {
            (
                gap + (i % columns) * (tw + gap),
                gap + (i / columns) * (th + gap),
            )
        };
        let samples = match &first.samples {
            Samples::U8(_) => {
                let mut out = vec![u8::MAX; width * height * c];
                for (i, t) in tiles.iter().enumerate() {
                    if let Samples::U8(v) = &t.samples {
                        place(&mut out, v, origin(i), geometry);
                    }
                }
                Samples::U8(out)
            }
            Samples::U16(_) => {
                let mut out = vec![u16::MAX; width * height * c];
                for (i, t) in tiles.iter().enumerate() {
                    if let Samples::U16(v) = &t.samples {
                        place(&mut out, v, origin(i), geometry);
                    }
                }
                Samples::U16(out)
            }
        };
        Raster::new(width, height, c, samples)
    }
}
