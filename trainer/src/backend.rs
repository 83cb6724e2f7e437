//! The one place that turns a backend name into a burn `Device` and a training path.
//!
//! On a CPU, training runs on cimle's own kernels ([`crate::cpu_train`]); `flex` runs the same
//! steps through burn's autodiff on its Flex CPU backend instead (slower; kept as a reference).
//! GPUs run through wgpu (Vulkan on Linux): burn's `cuda` feature cannot be built on our
//! machines (its build script downloads an LLVM bundle), so `cuda` is accepted as a name and
//! refused with that reason; where it builds, it joins here.

use core::fmt;
use core::str::FromStr;

use burn::tensor::Device;

/// A compute backend the trainer can run on (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Backend {
    /// wgpu when a physical GPU adapter exists, else the CPU: the trainer's default.
    #[default]
    Auto,
    /// The CPU: cimle's own kernels for training, burn's Flex backend for everything else.
    Cpu,
    /// burn's Flex CPU backend for training too (burn's autodiff; the reference for the kernels).
    Flex,
    /// burn's wgpu backend on the first GPU adapter (Vulkan, Metal or DX12).
    Wgpu,
    /// NVIDIA CUDA: not compiled into this build (see the module docs).
    Cuda,
}

/// Why a backend could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(
        "no wgpu adapter could be initialised ({0}); install a Vulkan driver, or run with \
         --backend cpu"
    )]
    Wgpu(String),
    #[error(
        "this build has no CUDA backend: burn's `cuda` feature downloads an LLVM bundle at build \
         time, which these machines cannot; use --backend wgpu (Vulkan) on NVIDIA GPUs"
    )]
    CudaNotBuilt,
    #[error("unknown backend `{0}`: choose auto, cpu, flex, wgpu or cuda")]
    Unknown(String),
}

impl FromStr for Backend {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Backend::Auto),
            "cpu" => Ok(Backend::Cpu),
            "flex" => Ok(Backend::Flex),
            "wgpu" => Ok(Backend::Wgpu),
            "cuda" => Ok(Backend::Cuda),
            other => Err(BackendError::Unknown(other.to_string())),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Cpu => "cpu",
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        })
    }
}

impl Backend {
    /// The concrete backend `Auto` stands for on this machine: `Wgpu` when burn finds a
    /// physical GPU (software adapters such as lavapipe have no physical card and are slower
    /// than the CPU backend), else `Cpu`. Other choices stand for themselves.
    pub fn resolve(self) -> Backend {
        match self {
            Backend::Auto if !Device::enumerate_physical().is_empty() => Backend::Wgpu,
            Backend::Auto => Backend::Cpu,
            other => other,
        }
    }

    /// The device of this backend (without autodiff).
    pub fn device(self) -> Result<Device, BackendError> {
        match self.resolve() {
            Backend::Auto => Ok(Device::flex()),
            Backend::Cpu | Backend::Flex => Ok(Device::flex()),
            Backend::Wgpu => Device::wgpu_options()
                .init()
                .map_err(|e| BackendError::Wgpu(e.to_string())),
            Backend::Cuda => Err(BackendError::CudaNotBuilt),
        }
    }
}

impl Backend {
    /// How a run on this backend trains: cimle's kernels on `cpu` (and `auto` without a GPU),
    /// burn's autodiff everywhere else.
    pub fn train_path(self) -> crate::engine::TrainPath {
        match self.resolve() {
            Backend::Cpu | Backend::Auto => crate::engine::TrainPath::Kernels,
            _ => crate::engine::TrainPath::Burn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_cuda_explains_itself() {
        assert_eq!("cpu".parse::<Backend>().unwrap(), Backend::Cpu);
        assert_eq!("wgpu".parse::<Backend>().unwrap(), Backend::Wgpu);
        assert!("tpu".parse::<Backend>().is_err());
        assert_eq!(Backend::Cpu.resolve(), Backend::Cpu);
        assert_eq!("flex".parse::<Backend>().unwrap(), Backend::Flex);
        assert_eq!(Backend::Cpu.train_path(), crate::engine::TrainPath::Kernels);
        assert_eq!(Backend::Flex.train_path(), crate::engine::TrainPath::Burn);
        let err = Backend::Cuda.device().unwrap_err().to_string();
        assert!(err.contains("--backend wgpu"), "{err}");
    }
}
