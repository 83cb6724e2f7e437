//! The generator `T(x, z)` of [`crate::generator`] on cimle's CPU kernels, with its backward pass.
//!
//! The same network, layer for layer (the module docs of [`crate::generator`] draw it):
//!
//! ```text
//! encoder:   e = conv1x1(lrelu(LN(conv3x3(lrelu(LN(conv3x3([x, z])))))))        (biases on)
//! module k:  o_k = lrelu(LN(conv3x3(lrelu(LN(conv3x3([up2(o_{k−1}), area(x)_k, bilinear(e)_k]))))))
//! image:     conv1x1(o_last) + bias
//! ```
//!
//! Parameters carry burn's names (`encoder.conv1.weight`, `refinement.3.norm2.gamma`, …) and are
//! converted from and to a burn [`Generator`] ([`CpuGenerator::from_generator`],
//! [`CpuGenerator::to_generator`]); tests check that both give the same images and gradients.
//! Convolution weights are held packed for the kernels ([`conv::pack`]); every other parameter as
//! burn holds it.

use burn::tensor::Device;

use super::conv;
use super::grid::{Grid, Map};
use super::norm::{self, Stats};
use super::par::for_each_row_mut;
use super::resize;
use crate::config::GeneratorConfig;
use crate::generator::Generator;
use crate::latent::LatentCode;
use crate::layout::Layout;
use crate::weights::{WeightsError, generator_from_tensors, generator_tensors};

/// LeakyReLU slope of every layer (docs/METHOD.md "Generator").
const LEAKY_SLOPE: f32 = 0.2;

/// One named parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// burn's module path, as in weights files.
    pub name: String,
    /// burn's shape (conv weights `[c_out, c_in, k, k]`).
    pub shape: Vec<usize>,
    /// The values; conv weights packed ([`conv::pack`]).
    pub value: Vec<f32>,
}

#[derive(Debug, Clone, Copy)]
struct ConvIx {
    weight: usize,
    bias: Option<usize>,
    kernel: usize,
}

#[derive(Debug, Clone, Copy)]
struct NormIx {
    gamma: usize,
    beta: usize,
}

#[derive(Debug, Clone, Copy)]
struct Block {
    conv1: ConvIx,
    norm1: NormIx,
    conv2: ConvIx,
    norm2: NormIx,
}

/// The generator's parameters in the kernels' layout, and its structure.
#[derive(Debug, Clone)]
pub struct CpuGenerator {
    config: GeneratorConfig,
    params: Vec<Param>,
    encoder: Block,
    encoder_out: ConvIx,
    modules: Vec<Block>,
    to_rgb: ConvIx,
}

/// Gradients of every parameter, in [`CpuGenerator::params`] order and layout.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorGrads {
    pub values: Vec<Vec<f32>>,
}

/// What the backward pass needs from a forward pass.
#[derive(Debug, Clone)]
pub struct GeneratorTape {
    enc_in: Map,
    enc: LayerTape,
    encoded: Map,
    modules: Vec<LayerTape>,
}

/// Input, conv outputs, statistics and activations of one two-conv block.
#[derive(Debug, Clone)]
struct LayerTape {
    input: Map,
    c1: Map,
    s1: Stats,
    a1: Map,
    c2: Map,
    s2: Stats,
    out: Map,
}

impl CpuGenerator {
    /// Reads a burn generator's parameters.
    pub fn from_generator(generator: &Generator, config: &GeneratorConfig) -> Self {
        Self::from_tensors(config, generator_tensors(generator))
            .expect("a generator's own tensors match its config")
    }

    /// A burn generator on `device` with these parameters.
    pub fn to_generator(&self, device: &Device) -> Generator {
        generator_from_tensors(&self.config, self.tensors(), device)
            .expect("the CPU generator's tensors match its config")
    }

    /// From `(name, burn shape, values)` triples (every parameter of `config`'s generator).
    pub fn from_tensors(
        config: &GeneratorConfig,
        tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    ) -> Result<Self, WeightsError> {
        let mut b = Builder {
            stored: tensors
                .into_iter()
                .map(|(name, shape, values)| (name, (shape, values)))
                .collect(),
            params: Vec::new(),
        };
        let (c, l, e) = (
            config.num_classes(),
            config.latent_channels,
            config.encoder_width,
        );
        // burn visits parameters in declaration order; the same order is kept here.
        let encoder = b.block("encoder", config.encoder_inputs(), e, true)?;
        let encoder_out = b.conv("encoder.out", e, l, 1, true)?;
        let mut prev = 0;
        let mut modules = Vec::new();
        for (k, &w) in config.widths.iter().enumerate() {
            modules.push(b.block(&format!("refinement.{k}"), prev + c + l, w, false)?);
            prev = w;
        }
        let to_rgb = b.conv("to_rgb", prev, 3, 1, true)?;
        if !b.stored.is_empty() {
            let mut unused: Vec<String> = b.stored.into_keys().collect();
            unused.sort();
            return Err(WeightsError::UnusedTensors(unused));
        }
        Ok(Self {
            config: config.clone(),
            params: b.params,
            encoder,
            encoder_out,
            modules,
            to_rgb,
        })
    }

    /// Every parameter as `(name, burn shape, values in burn's layout)`.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        self.params
            .iter()
            .map(|p| (p.name.clone(), p.shape.clone(), to_burn_layout(p, &p.value)))
            .collect()
    }

    /// The generator's shape.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The parameters, in burn's visiting order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// Mutable parameters (an optimiser's step).
    pub fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }

    /// Replaces the noise encoder's parameters by those of `other` (the released schedule's
    /// re-initialisation, drawn by burn and converted).
    pub fn replace_encoder(&mut self, other: &CpuGenerator) {
        for (mine, theirs) in self.params.iter_mut().zip(&other.params) {
            if mine.name.starts_with("encoder.") {
                mine.value.clone_from(&theirs.value);
            }
        }
    }

    /// Zero gradients of the right sizes.
    pub fn zero_grads(&self) -> GeneratorGrads {
        GeneratorGrads {
            values: self
                .params
                .iter()
                .map(|p| vec![0.0; p.value.len()])
                .collect(),
        }
    }

    fn p(&self, i: usize) -> &[f32] {
        &self.params[i].value
    }

    /// The encoder's input `[x, z]` at full size: one-hot layouts, then the codes (then their
    /// global component, [`crate::generator::global_code`], when on).
    fn encoder_input(&self, layouts: &[&Layout], codes: &[&LatentCode]) -> Map {
        let cfg = &self.config;
        let (c, l) = (cfg.num_classes(), cfg.latent_channels);
        assert_eq!(layouts.len(), codes.len(), "one code per layout");
        let g = Grid::new(layouts.len(), cfg.height, cfg.width);
        let width = cfg.encoder_inputs();
        let mut map = Map::zeros(g, width);
        let area = g.h * g.w;
        let scale = (area as f64).sqrt() / area as f64;
        let globals: Vec<Vec<f32>> = layouts
            .iter()
            .zip(codes)
            .map(|(layout, code)| {
                assert_eq!([layout.height(), layout.width()], [g.h, g.w], "layout size");
                assert_eq!(code.shape(), [l, g.h, g.w], "latent code shape");
                let z = code.data();
                (0..l)
                    .map(|ch| {
                        (z[ch * area..(ch + 1) * area]
                            .iter()
                            .map(|&v| v as f64)
                            .sum::<f64>()
                            * scale) as f32
                    })
                    .collect()
            })
            .collect();
        let global_code = cfg.has_global_code();
        for_each_row_mut(&mut map.data, g, width, |s, y, row| {
            let ids = layouts[s].ids();
            let z = codes[s].data();
            for x in 0..g.w {
                let px = &mut row[(x + 1) * width..][..width];
                let id = ids[y * g.w + x] as usize;
                if id < c {
                    px[id] = 1.0;
                }
                for ch in 0..l {
                    px[c + ch] = z[(ch * g.h + y) * g.w + x];
                }
                if global_code {
                    px[c + l..].copy_from_slice(&globals[s]);
                }
            }
        });
        map
    }

    /// Writes the layouts, area-downsampled by `factor` (one-hot averaged over each block), into
    /// channels `offset..offset + C` of `dst`.
    fn write_layouts(&self, layouts: &[&Layout], factor: usize, dst: &mut Map, offset: usize) {
        let c = self.config.num_classes();
        let (g, width) = (dst.grid, dst.c);
        let share = 1.0 / (factor * factor) as f32;
        let full_w = g.w * factor;
        for_each_row_mut(&mut dst.data, g, width, |s, y, row| {
            let ids = layouts[s].ids();
            for x in 0..g.w {
                let px = &mut row[(x + 1) * width + offset..][..c];
                for yy in y * factor..(y + 1) * factor {
                    for &id in &ids[yy * full_w + x * factor..][..factor] {
                        if (id as usize) < c {
                            px[id as usize] += share;
                        }
                    }
                }
            }
        });
    }

    fn conv(&self, ix: ConvIx, input: &Map, cout: usize) -> Map {
        let mut out = Map::zeros(input.grid, cout);
        let bias = ix.bias.map(|b| self.p(b));
        conv::forward(input, self.p(ix.weight), bias, ix.kernel, &mut out);
        out
    }

    fn block_forward(
        &self,
        b: Block,
        input: Map,
        width: usize,
        keep: bool,
    ) -> (Map, Option<LayerTape>) {
        let (g1, b1) = (self.p(b.norm1.gamma), self.p(b.norm1.beta));
        let (g2, b2) = (self.p(b.norm2.gamma), self.p(b.norm2.beta));
        if !keep {
            // Inference: each norm overwrites its conv's output.
            let mut a1 = self.conv(b.conv1, &input, width);
            norm::forward_in_place(&mut a1, g1, b1, LEAKY_SLOPE);
            let mut out = self.conv(b.conv2, &a1, width);
            norm::forward_in_place(&mut out, g2, b2, LEAKY_SLOPE);
            return (out, None);
        }
        let c1 = self.conv(b.conv1, &input, width);
        let mut a1 = Map::zeros(c1.grid, width);
        let s1 = norm::forward(&c1, g1, b1, LEAKY_SLOPE, &mut a1);
        let c2 = self.conv(b.conv2, &a1, width);
        let mut out = Map::zeros(c2.grid, width);
        let s2 = norm::forward(&c2, g2, b2, LEAKY_SLOPE, &mut out);
        let tape = LayerTape {
            input,
            c1,
            s1,
            a1,
            c2,
            s2,
            out: out.clone(),
        };
        (out, Some(tape))
    }

    /// Renders `T(x, z)` for each layout and code: a `[n, 3]` map of images in about [-1, 1]
    /// (zero border), and, with `keep`, what [`CpuGenerator::backward`] needs.
    pub fn forward(
        &self,
        layouts: &[&Layout],
        codes: &[&LatentCode],
        keep: bool,
    ) -> (Map, Option<GeneratorTape>) {
        let cfg = &self.config;
        let (c, l) = (cfg.num_classes(), cfg.latent_channels);
        let enc_in = self.encoder_input(layouts, codes);
        let (a2, enc_tape) =
            self.block_forward(self.encoder, enc_in.clone(), cfg.encoder_width, keep);
        let mut encoded = self.conv(self.encoder_out, &a2, l);
        encoded.zero_border();
        let n = layouts.len();
        let modules = cfg.modules();
        let mut prev: Option<Map> = None;
        let mut tapes = Vec::new();
        for (k, block) in self.modules.iter().enumerate() {
            let factor = 1usize << (modules - 1 - k);
            let [h, w] = cfg.module_size(k);
            let grid = Grid::new(n, h, w);
            let cp = prev.as_ref().map_or(0, |p| p.c);
            let mut input = Map::zeros(grid, cp + c + l);
            if let Some(p) = &prev {
                resize::bilinear_forward(p, &mut input, 0);
            }
            self.write_layouts(layouts, factor, &mut input, cp);
            resize::bilinear_forward(&encoded, &mut input, cp + c);
            let (out, tape) = self.block_forward(*block, input, cfg.widths[k], keep);
            tapes.extend(tape);
            prev = Some(out);
        }
        let last = prev.expect("at least one refinement module");
        let mut image = self.conv(self.to_rgb, &last, 3);
        image.zero_border();
        let tape = keep.then(|| GeneratorTape {
            enc_in,
            enc: enc_tape.expect("kept"),
            encoded,
            modules: tapes,
        });
        (image, tape)
    }

    fn block_backward(
        &self,
        b: Block,
        t: &LayerTape,
        d_out: &Map,
        grads: &mut GeneratorGrads,
        need_input: bool,
    ) -> Option<Map> {
        let width = d_out.c;
        let mut d_c2 = Map::zeros(d_out.grid, width);
        let (mut dg, mut db) = (vec![0.0; width], vec![0.0; width]);
        norm::backward(
            &t.c2,
            &t.s2,
            self.p(b.norm2.gamma),
            self.p(b.norm2.beta),
            LEAKY_SLOPE,
            d_out,
            &mut d_c2,
            &mut dg,
            &mut db,
        );
        add(&mut grads.values[b.norm2.gamma], &dg);
        add(&mut grads.values[b.norm2.beta], &db);
        self.conv_backward(b.conv2, &t.a1, &d_c2, grads);
        let mut d_a1 = Map::zeros(d_out.grid, width);
        conv::backward_input(&d_c2, self.p(b.conv2.weight), b.conv2.kernel, &mut d_a1);
        let mut d_c1 = Map::zeros(d_out.grid, width);
        let (mut dg, mut db) = (vec![0.0; width], vec![0.0; width]);
        norm::backward(
            &t.c1,
            &t.s1,
            self.p(b.norm1.gamma),
            self.p(b.norm1.beta),
            LEAKY_SLOPE,
            &d_a1,
            &mut d_c1,
            &mut dg,
            &mut db,
        );
        add(&mut grads.values[b.norm1.gamma], &dg);
        add(&mut grads.values[b.norm1.beta], &db);
        self.conv_backward(b.conv1, &t.input, &d_c1, grads);
        need_input.then(|| {
            let mut d_in = Map::zeros(t.input.grid, t.input.c);
            conv::backward_input(&d_c1, self.p(b.conv1.weight), b.conv1.kernel, &mut d_in);
            d_in
        })
    }

    fn conv_backward(&self, ix: ConvIx, input: &Map, d_out: &Map, grads: &mut GeneratorGrads) {
        let (dw, rest) = split_two(&mut grads.values, ix.weight, ix.bias);
        conv::backward_weights(input, d_out, ix.kernel, dw, rest);
    }

    /// Gradients of every parameter from `d_image`, the gradient of the rendered images (zero
    /// border), and the tape of the forward pass that rendered them.
    pub fn backward(&self, tape: &GeneratorTape, d_image: &Map) -> GeneratorGrads {
        let cfg = &self.config;
        let (c, l) = (cfg.num_classes(), cfg.latent_channels);
        let mut grads = self.zero_grads();
        let last = &tape.modules.last().expect("at least one module").out;
        self.conv_backward(self.to_rgb, last, d_image, &mut grads);
        let mut d_out = Map::zeros(last.grid, last.c);
        conv::backward_input(d_image, self.p(self.to_rgb.weight), 1, &mut d_out);
        let mut d_encoded = Map::zeros(tape.encoded.grid, l);
        for k in (0..self.modules.len()).rev() {
            let t = &tape.modules[k];
            let d_in = self
                .block_backward(self.modules[k], t, &d_out, &mut grads, true)
                .expect("asked for");
            let cp = if k > 0 { tape.modules[k - 1].out.c } else { 0 };
            resize::bilinear_backward(&d_in, cp + c, &mut d_encoded);
            if k > 0 {
                let prev = &tape.modules[k - 1].out;
                d_out = Map::zeros(prev.grid, prev.c);
                resize::bilinear_backward(&d_in, 0, &mut d_out);
            }
        }
        self.conv_backward(self.encoder_out, &tape.enc.out, &d_encoded, &mut grads);
        let mut d_a2 = Map::zeros(tape.enc.out.grid, tape.enc.out.c);
        conv::backward_input(&d_encoded, self.p(self.encoder_out.weight), 1, &mut d_a2);
        self.block_backward(self.encoder, &tape.enc, &d_a2, &mut grads, false);
        let _ = &tape.enc_in;
        grads
    }
}

/// Takes named tensors out of a map into [`Param`]s, checking shapes.
struct Builder {
    stored: std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>,
    params: Vec<Param>,
}

impl Builder {
    fn take(&mut self, name: String, shape: Vec<usize>) -> Result<usize, WeightsError> {
        let (found, values) = self
            .stored
            .remove(&name)
            .ok_or_else(|| WeightsError::MissingTensor(name.clone()))?;
        if found != shape {
            return Err(WeightsError::ShapeMismatch {
                name,
                expected: shape,
                found,
            });
        }
        let value = if shape.len() == 4 {
            conv::pack(&values, shape[0], shape[1], shape[2])
        } else {
            values
        };
        self.params.push(Param { name, shape, value });
        Ok(self.params.len() - 1)
    }

    fn conv(
        &mut self,
        prefix: &str,
        cin: usize,
        cout: usize,
        kernel: usize,
        bias: bool,
    ) -> Result<ConvIx, WeightsError> {
        let weight = self.take(format!("{prefix}.weight"), vec![cout, cin, kernel, kernel])?;
        let bias = if bias {
            Some(self.take(format!("{prefix}.bias"), vec![cout])?)
        } else {
            None
        };
        Ok(ConvIx {
            weight,
            bias,
            kernel,
        })
    }

    fn norm(&mut self, prefix: &str, c: usize) -> Result<NormIx, WeightsError> {
        Ok(NormIx {
            gamma: self.take(format!("{prefix}.gamma"), vec![c])?,
            beta: self.take(format!("{prefix}.beta"), vec![c])?,
        })
    }

    fn block(
        &mut self,
        prefix: &str,
        cin: usize,
        cout: usize,
        bias: bool,
    ) -> Result<Block, WeightsError> {
        Ok(Block {
            conv1: self.conv(&format!("{prefix}.conv1"), cin, cout, 3, bias)?,
            norm1: self.norm(&format!("{prefix}.norm1"), cout)?,
            conv2: self.conv(&format!("{prefix}.conv2"), cout, cout, 3, bias)?,
            norm2: self.norm(&format!("{prefix}.norm2"), cout)?,
        })
    }
}

/// A parameter's values in burn's layout (conv weights unpacked).
pub fn to_burn_layout(p: &Param, values: &[f32]) -> Vec<f32> {
    if p.shape.len() == 4 {
        conv::unpack(values, p.shape[0], p.shape[1], p.shape[2])
    } else {
        values.to_vec()
    }
}

/// A parameter's values from burn's layout to the kernels' (conv weights packed).
pub fn from_burn_layout(p: &Param, values: &[f32]) -> Vec<f32> {
    if p.shape.len() == 4 {
        conv::pack(values, p.shape[0], p.shape[1], p.shape[2])
    } else {
        values.to_vec()
    }
}

fn add(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// Mutable borrows of two distinct entries (`b` optional).
fn split_two(
    values: &mut [Vec<f32>],
    a: usize,
    b: Option<usize>,
) -> (&mut [f32], Option<&mut [f32]>) {
    match b {
        None => (&mut values[a], None),
        Some(b) => {
            assert_ne!(a, b);
            if a < b {
                let (lo, hi) = values.split_at_mut(b);
                (&mut lo[a], Some(&mut hi[0]))
            } else {
                let (lo, hi) = values.split_at_mut(a);
                (&mut hi[0], Some(&mut lo[b]))
            }
        }
    }
}

#[cfg(test)]
mod tests;
