//! The one place that turns a backend name into a burn `Device`.
//!
//! CPU runs on burn's Flex backend. GPUs run through wgpu (Vulkan on Linux): burn's `cuda`
//! feature cannot be built on our machines (its build script downloads an LLVM bundle), so
//! `cuda` is accepted as a name and refused with that reason; where it builds, it joins here.

use core::fmt;
use core::str::FromStr;

use burn::tensor::Device;

/// A compute backend the trainer can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// wgpu when a physical GPU adapter exists, else the CPU: the trainer's default.
    #[default]
    Auto,
    /// burn's Flex CPU backend: what the tests use.
    Cpu,
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
    #[error("unknown backend `{0}`: choose auto, cpu, wgpu or cuda")]
    Unknown(String),
}

impl FromStr for Backend {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Backend::Auto),
            "cpu" => Ok(Backend::Cpu),
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
            Backend::Cpu => Ok(Device::flex()),
            Backend::Wgpu => Device::wgpu_options()
                .init()
                .map_err(|e| BackendError::Wgpu(e.to_string())),
            Backend::Cuda => Err(BackendError::CudaNotBuilt),
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
        let err = Backend::Cuda.device().unwrap_err().to_string();
        assert!(err.contains("--backend wgpu"), "{err}");
    }
}
