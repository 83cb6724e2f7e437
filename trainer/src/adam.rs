//! Adam (Kingma & Ba 2015) on the CPU generator's parameters, step for step the update of burn's
//! `Adam` (which the GPU path uses), so both paths train alike:
//!
//! ```text
//! m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²          (t ← t + 1; m, v start at 0)
//! θ ← θ − lr · m / (1 − β₁ᵗ) / ( sqrt(v / (1 − β₂ᵗ)) + ε )
//! ```
//!
//! `t` counts per parameter: parameters created later (the re-initialised noise encoder) start
//! again at `t = 1`, as burn's state, keyed by parameter, does.

use std::collections::{BTreeMap, HashMap};

use burn::optim::AdamConfig;
use cimle::cpu::generator::{Param, from_burn_layout, to_burn_layout};
use cimle::cpu::{CpuGenerator, GeneratorGrads};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

/// The optimiser's settings and per-parameter state.
#[derive(Debug, Clone, PartialEq)]
pub struct Adam {
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    /// Per parameter: steps taken, first and second moments (empty before the first step).
    state: Vec<Moments>,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Moments {
    time: u32,
    m: Vec<f32>,
    v: Vec<f32>,
}

/// An Adam setting the CPU path does not implement.
#[derive(Debug, thiserror::Error)]
#[error("the CPU training path implements plain Adam; this config asks for {0}")]
pub struct Unsupported(String);

impl Adam {
    /// Adam with `config`'s betas and epsilon, for `params` parameters.
    pub fn new(config: &AdamConfig, params: usize) -> Result<Self, Unsupported> {
        let json = serde_json::to_value(config).map_err(|e| Unsupported(e.to_string()))?;
        let number =
            |key: &str, default: f64| json.get(key).and_then(|v| v.as_f64()).unwrap_or(default);
        for key in ["weight_decay", "grad_clipping"] {
            if json.get(key).is_some_and(|v| !v.is_null()) {
                return Err(Unsupported(key.replace('_', " ")));
            }
        }
        if json.get("amsgrad").and_then(|v| v.as_bool()) == Some(true) {
            return Err(Unsupported("AMSGrad".into()));
        }
        Ok(Self {
            beta1: number("beta_1", 0.9) as f32,
            beta2: number("beta_2", 0.999) as f32,
            epsilon: number("epsilon", 1e-5) as f32,
            state: vec![Moments::default(); params],
        })
    }

    /// One step: `params -= lr · update(grads)`.
    pub fn step(&mut self, params: &mut [Param], grads: &GeneratorGrads, lr: f64) {
        assert_eq!(params.len(), grads.values.len());
        assert_eq!(params.len(), self.state.len());
        let (b1, b2, eps) = (self.beta1, self.beta2, self.epsilon);
        for ((p, g), st) in params.iter_mut().zip(&grads.values).zip(&mut self.state) {
            if st.time == 0 {
                st.m = g.iter().map(|g| g * (1.0 - b1)).collect();
                st.v = g.iter().map(|g| g * g * (1.0 - b2)).collect();
            } else {
                for ((m, v), g) in st.m.iter_mut().zip(&mut st.v).zip(g) {
                    *m = *m * b1 + g * (1.0 - b1);
                    *v = *v * b2 + g * g * (1.0 - b2);
                }
            }
            st.time += 1;
            let t = st.time as i32;
            let bc2 = (1.0 - b2.powi(t)).sqrt();
            let factor = bc2 / (1.0 - b1.powi(t));
            let lr = lr as f32;
            for ((w, m), v) in p.value.iter_mut().zip(&st.m).zip(&st.v) {
                *w -= lr * (m * factor / (v.sqrt() + eps * bc2));
            }
        }
    }

    /// Forgets the state of the parameters whose names start with `prefix` (they were replaced).
    pub fn reset(&mut self, params: &[Param], prefix: &str) {
        for (p, st) in params.iter().zip(&mut self.state) {
            if p.name.starts_with(prefix) {
                *st = Moments::default();
            }
        }
    }

    /// The state as a safetensors file: `m.NAME`, `v.NAME` in burn's layout (as weights files
    /// store the parameters), the step counts in the metadata.
    pub fn to_bytes(&self, generator: &CpuGenerator) -> Result<Vec<u8>, String> {
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        let mut meta = HashMap::new();
        let mut times = BTreeMap::new();
        for (p, st) in generator.params().iter().zip(&self.state) {
            times.insert(p.name.clone(), st.time);
            if st.time == 0 {
                continue;
            }
            for (which, values) in [("m", &st.m), ("v", &st.v)] {
                let bytes = to_burn_layout(p, values)
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect();
                tensors.push((format!("{which}.{}", p.name), p.shape.clone(), bytes));
            }
        }
        meta.insert("format".to_string(), "cimle-adam".to_string());
        meta.insert(
            "betas_eps".to_string(),
            format!("{} {} {}", self.beta1, self.beta2, self.epsilon),
        );
        meta.insert(
            "time".to_string(),
            serde_json::to_string(&times).map_err(|e| e.to_string())?,
        );
        let views = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        safetensors::serialize(views, Some(meta)).map_err(|e| e.to_string())
    }

    /// Reads [`Adam::to_bytes`] for `generator`'s parameters.
    pub fn from_bytes(
        bytes: &[u8],
        config: &AdamConfig,
        generator: &CpuGenerator,
    ) -> Result<Self, String> {
        let mut adam = Adam::new(config, generator.params().len()).map_err(|e| e.to_string())?;
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
        let meta = meta.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some("cimle-adam") {
            return Err("not a cimle Adam state".into());
        }
        let times: BTreeMap<String, u32> =
            serde_json::from_str(meta.get("time").map(String::as_str).unwrap_or("{}"))
                .map_err(|e| e.to_string())?;
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
        for (p, st) in generator.params().iter().zip(&mut adam.state) {
            let time = times
                .get(&p.name)
                .copied()
                .ok_or_else(|| format!("no state for {}", p.name))?;
            if time == 0 {
                continue;
            }
            let read = |which: &str| -> Result<Vec<f32>, String> {
                let view = tensors
                    .tensor(&format!("{which}.{}", p.name))
                    .map_err(|e| e.to_string())?;
                if view.shape() != p.shape.as_slice() || view.dtype() != Dtype::F32 {
                    return Err(format!("{which}.{}: shape or type differs", p.name));
                }
                let values: Vec<f32> = view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                Ok(from_burn_layout(p, &values))
            };
            *st = Moments {
                time,
                m: read("m")?,
                v: read("v")?,
            };
        }
        Ok(adam)
    }
}
