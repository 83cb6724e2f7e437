//! A run's checkpoint (`RUN/checkpoint.bin`): what survives a kill (rounds done, the random
//! generator, losses, the method's memory) with the generator and optimiser state, in one file
//! written atomically after every round.

use std::path::Path;

use burn::tensor::Device;
use cimle::latent::PortableRng;
use serde::{Deserialize, Serialize};

use super::{RunError, io_err};
use crate::config::TrainingConfig;
use crate::curves::EvalPoint;
use crate::engine::{Engine, SavedEngine, TrainPath};
use crate::perceptual::LayerWeights;
use crate::selection::MethodState;
use crate::vgg::Vgg19Features;

const CHECKPOINT_MAGIC: &[u8; 8] = b"CIMLECKP";
/// 2: the state names its optimiser format (`cimle-adam` or `burn`); 1: always burn's.
const CHECKPOINT_VERSION: u32 = 2;

/// What survives a kill: everything needed to continue after the last finished round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    /// Rounds completed.
    pub rounds_done: usize,
    /// The run's random generator after the last completed round.
    pub rng: PortableRng,
    /// `(round, step, loss)` of every training step so far.
    pub losses: Vec<(usize, usize, f32)>,
    /// Seconds spent in completed rounds.
    pub seconds: f64,
    /// The layer weights λ in use.
    pub layer_weights: LayerWeights,
    /// Who wrote the optimiser state: `cimle-adam` (the CPU kernels) or `burn`.
    #[serde(default = "burn_optimizer")]
    pub optimizer: String,
    /// The learning curve so far (`--eval-every`).
    #[serde(default)]
    pub evals: Vec<EvalPoint>,
    /// What the training method remembers across rounds (RS-IMLE's ε, Adaptive IMLE's
    /// thresholds).
    #[serde(default)]
    pub method: MethodState,
}

fn burn_optimizer() -> String {
    TrainPath::Burn.optimizer_format().to_string()
}

/// The checkpoint file: magic, version, then the state (JSON), the generator record and the
/// optimiser state, each preceded by its length. The state must serialise: a loss that is not a
/// finite number would not read back, so such a state is an error here.
pub(super) fn encode_checkpoint(
    state: &RunState,
    model: &[u8],
    optim: &[u8],
) -> Result<Vec<u8>, String> {
    let json = serde_json::to_vec(state).map_err(|e| format!("the run state: {e}"))?;
    let mut out = Vec::with_capacity(32 + json.len() + model.len() + optim.len());
    out.extend_from_slice(CHECKPOINT_MAGIC);
    out.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
    for part in [&json[..], model, optim] {
        out.extend_from_slice(&(part.len() as u64).to_le_bytes());
        out.extend_from_slice(part);
    }
    Ok(out)
}

pub(super) fn decode_checkpoint(bytes: &[u8]) -> Result<(RunState, Vec<u8>, Vec<u8>), String> {
    if bytes.len() < 12 || &bytes[..8] != CHECKPOINT_MAGIC {
        return Err("wrong magic bytes".into());
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version == 0 || version > CHECKPOINT_VERSION {
        return Err(format!(
            "checkpoint version {version}, this build reads {CHECKPOINT_VERSION}"
        ));
    }
    let mut rest = &bytes[12..];
    let mut parts = Vec::new();
    for _ in 0..3 {
        if rest.len() < 8 {
            return Err("truncated".into());
        }
        let mut len_bytes = [0u8; 8];
        len_bytes.copy_from_slice(&rest[..8]);
        let len = u64::from_le_bytes(len_bytes) as usize;
        rest = &rest[8..];
        if rest.len() < len {
            return Err("truncated".into());
        }
        parts.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    let optim = parts.pop().unwrap_or_default();
    let model = parts.pop().unwrap_or_default();
    let json = parts.pop().unwrap_or_default();
    let state = serde_json::from_slice(&json).map_err(|e| format!("state: {e}"))?;
    Ok((state, model, optim))
}

/// Reads a run's checkpoint: its state, and the generator and optimiser on `path`.
pub fn load_checkpoint(
    file: &Path,
    config: &TrainingConfig,
    vgg: Vgg19Features,
    path: TrainPath,
    device: &Device,
) -> Result<(RunState, Engine), RunError> {
    let bytes = std::fs::read(file).map_err(io_err(file))?;
    let bad = |why: String| RunError::BadCheckpoint {
        path: file.to_path_buf(),
        why,
    };
    let (state, model, optim) = decode_checkpoint(&bytes).map_err(bad)?;
    let engine = Engine::load(
        path,
        config,
        vgg,
        state.layer_weights,
        device,
        SavedEngine {
            model,
            optimizer: &optim,
            optimizer_format: &state.optimizer,
        },
    )
    .map_err(bad)?;
    Ok((state, engine))
}

/// The state saved in a run's checkpoint (rounds done, losses, seconds), without loading the
/// model: what `cimle compare` reads to tell a finished run from an interrupted one.
pub fn read_run_state(path: &Path) -> Result<RunState, RunError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let (state, _, _) = decode_checkpoint(&bytes).map_err(|why| RunError::BadCheckpoint {
        path: path.to_path_buf(),
        why,
    })?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_container_round_trips_and_rejects_damage() {
        let state = RunState {
            rounds_done: 2,
            rng: PortableRng::new(4),
            losses: vec![(0, 0, 1.5)],
            seconds: 3.0,
            layer_weights: LayerWeights::paper(),
            optimizer: "cimle-adam".into(),
            evals: Vec::new(),
            method: MethodState::default(),
        };
        let bytes = encode_checkpoint(&state, b"model", b"optim").unwrap();
        let (s, m, o) = decode_checkpoint(&bytes).unwrap();
        assert_eq!(s.rounds_done, 2);
        assert_eq!(s.rng, state.rng);
        assert_eq!((m.as_slice(), o.as_slice()), (&b"model"[..], &b"optim"[..]));
        assert!(decode_checkpoint(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_checkpoint(b"PNG....").is_err());
    }
}
