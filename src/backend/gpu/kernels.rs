//! A model's compute pipelines: the four WGSL kernels written from its IR (in f32, and in f64
//! where the device and the model allow), compiled by the device's driver once per process (the model keeps them; see
//! [`CompiledModel::gpu_kernels`](crate::CompiledModel::gpu_kernels)).

use super::device::{GpuDevice, GpuError};
use crate::backend::wgsl::{Precision, WgslKernel, write_shader_in};
use crate::ir::VerifiedKernel;

/// Compiled pipelines of one model on one device.
pub struct GpuKernels {
    pub(crate) n_vars: usize,
    pub(crate) n_params: usize,
    pub(crate) layout: wgpu::BindGroupLayout,
    /// In the order of [`WgslKernel::ALL`] (the enum's own order).
    pipelines: Vec<wgpu::ComputePipeline>,
    /// The same in f64, when the device has `SHADER_F64` and every operation of the model
    /// has an f64 form.
    pipelines_f64: Option<Vec<wgpu::ComputePipeline>>,
}

impl GpuKernels {
    /// Writes and compiles the model's shaders. A shader the device refuses is a bug in the
    /// WGSL writer (naga validates them all in the tests) and comes back as an error.
    pub fn new(device: &GpuDevice, kernel: &VerifiedKernel) -> Result<Self, GpuError> {
        device.check()?;
        // vars, y, w, params: read; result: written; info: uniform.
        let layout =
            device.buffer_layout("jitfit", &[Some(true), Some(true), Some(true), Some(true), Some(false), None])?;
        let build = |precision: Precision| -> Result<Vec<wgpu::ComputePipeline>, GpuError> {
            WgslKernel::ALL
                .iter()
                .map(|which| {
                    device.compute_pipeline("jitfit kernel", &layout, write_shader_in(kernel, *which, precision))
                })
                .collect()
        };
        let pipelines = build(Precision::F32)?;
        // A device that refuses the f64 shaders (a limit, a driver) still runs f32.
        let pipelines_f64 = if device.has_f64() { build(Precision::F64).ok() } else { None };
        Ok(GpuKernels { n_vars: kernel.n_vars(), n_params: kernel.n_params(), layout, pipelines, pipelines_f64 })
    }

    /// True when the f64 kernels exist.
    pub fn has_f64(&self) -> bool {
        self.pipelines_f64.is_some()
    }

    pub(crate) fn pipeline(&self, which: WgslKernel, precision: Precision) -> Result<&wgpu::ComputePipeline, GpuError> {
        match (precision, &self.pipelines_f64) {
            (Precision::F32, _) => Ok(&self.pipelines[which as usize]),
            (Precision::F64, Some(pipelines)) => Ok(&pipelines[which as usize]),
            (Precision::F64, None) => Err(GpuError::Internal("no f64 kernels for this model on this device".into())),
        }
    }
}
