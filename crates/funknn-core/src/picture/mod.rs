//! Pictures in and out: reading images into tensors, antialiased resizing, rendering a
//! continuous image tile by tile, colour maps for derivative fields, and loss curves.

pub(crate) mod colormap;
pub(crate) mod io;
pub(crate) mod plot;
pub(crate) mod render;
pub(crate) mod resize;
pub(crate) mod upsample;

pub use colormap::{abs_quantile, diverging_rgb, sequential_rgb};
pub use io::{
    is_picture_file, match_channels, read_images, read_picture, write_picture, BitDepth, Picture,
    PictureFormat, Raster, Samples, WriteOptions,
};
pub use plot::loss_curve;
pub use render::{
    mean_gradient_and_laplacian, output_size, render_tiles, value_to_u8, MAX_PIXELS, MAX_SIDE,
};
pub use resize::{resize_bilinear_aa, Interpolator};
pub use upsample::{upsample_picture, UpsampleOptions};
