//! The process's one wgpu device: opened on first use (never for CPU-only work), kept for the
//! life of the process, and watched for loss. No wgpu error reaches the user as a panic: the
//! uncaptured-error handler records the error and the next call reports it.

use std::sync::{Arc, Mutex, OnceLock};

/// Why the GPU backend could not run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    #[error(
        "no GPU adapter found ({0}); install a Vulkan, Metal or DX12 driver (on Debian/Ubuntu, Mesa's software driver: `apt-get install mesa-vulkan-drivers libvulkan1`) or use --backend cpu"
    )]
    NoAdapter(String),
    #[error("the GPU adapter `{adapter}` refused to open a device: {message}")]
    Device { adapter: String, message: String },
    #[error("the GPU device was lost ({0}); use --backend cpu or restart the process")]
    DeviceLost(String),
    #[error("the data do not fit on the GPU ({0}); use --backend cpu")]
    OutOfMemory(String),
    #[error("the GPU refused a request (a bug in jitfit): {0}")]
    Internal(String),
}

/// An open device and its queue, with what the adapter said about itself.
pub struct GpuDevice {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) limits: wgpu::Limits,
    info: wgpu::AdapterInfo,
    /// Set by the device-lost callback: permanent.
    lost: Arc<Mutex<Option<GpuError>>>,
    /// The first error the uncaptured-error handler saw since the last check: reported once.
    uncaptured: Arc<Mutex<Option<GpuError>>>,
}

static DEVICE: OnceLock<Result<GpuDevice, GpuError>> = OnceLock::new();

/// The process's device, opened on the first call. The adapter is wgpu's high-performance
/// choice; `WGPU_BACKEND` (vulkan, metal, dx12) narrows the graphics APIs it looks at.
pub fn device() -> Result<&'static GpuDevice, GpuError> {
    DEVICE.get_or_init(open).as_ref().map_err(Clone::clone)
}

fn open() -> Result<GpuDevice, GpuError> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let options =
        wgpu::RequestAdapterOptions { power_preference: wgpu::PowerPreference::HighPerformance, ..Default::default() };
    let adapter =
        pollster::block_on(instance.request_adapter(&options)).map_err(|e| GpuError::NoAdapter(e.to_string()))?;
    let info = adapter.get_info();
    // Ask for the adapter's own limits: the largest buffers and dispatches it allows.
    let limits = adapter.limits();
    // f64 shaders where the adapter has them (the finish of a fit then stays on the device).
    let features = adapter.features() & wgpu::Features::SHADER_F64;
    let descriptor = wgpu::DeviceDescriptor {
        label: Some("jitfit"),
        required_features: features,
        required_limits: limits.clone(),
        ..Default::default()
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&descriptor))
        .map_err(|e| GpuError::Device { adapter: info.name.clone(), message: e.to_string() })?;
    let (lost, uncaptured) = (Arc::new(Mutex::new(None)), Arc::new(Mutex::new(None)));
    let on_lost = Arc::clone(&lost);
    device.set_device_lost_callback(move |reason, message| {
        if let Ok(mut slot) = on_lost.lock() {
            slot.get_or_insert(GpuError::DeviceLost(format!("{reason:?}: {message}")));
        }
    });
    let on_error = Arc::clone(&uncaptured);
    device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
        if let Ok(mut slot) = on_error.lock() {
            slot.get_or_insert(classify(error));
        }
    }));
    Ok(GpuDevice { device, queue, limits, info, lost, uncaptured })
}

/// A bind group of whole buffers, binding k = `buffers[k]`.
pub(crate) fn bind_buffers(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(binding, buffer)| wgpu::BindGroupEntry { binding: binding as u32, resource: buffer.as_entire_binding() })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(label), layout, entries: &entries })
}

/// A wgpu error as ours: running out of memory is the user's to know; anything else is ours.
pub(crate) fn classify(error: wgpu::Error) -> GpuError {
    match error {
        wgpu::Error::OutOfMemory { .. } => GpuError::OutOfMemory("out of device memory".into()),
        other => GpuError::Internal(other.to_string()),
    }
}

impl GpuDevice {
    /// The adapter's name, e.g. "NVIDIA H100" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub fn adapter_name(&self) -> &str {
        &self.info.name
    }

    /// Name, graphics API and kind, for reports: "llvmpipe (…) — Vulkan, software".
    pub fn describe(&self) -> String {
        let kind = match self.info.device_type {
            wgpu::DeviceType::DiscreteGpu => "discrete GPU",
            wgpu::DeviceType::IntegratedGpu => "integrated GPU",
            wgpu::DeviceType::VirtualGpu => "virtual GPU",
            wgpu::DeviceType::Cpu => "software",
            wgpu::DeviceType::Other => "other",
        };
        format!("{} — {:?}, {kind}", self.info.name, self.info.backend)
    }

    /// The largest buffer binding the device allows, in bytes.
    pub fn largest_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// True when the device runs f64 shaders (`SHADER_F64`).
    pub fn has_f64(&self) -> bool {
        self.device.features().contains(wgpu::Features::SHADER_F64)
    }

    /// True for a software rasterizer (lavapipe, WARP, SwiftShader): correct but slower than
    /// the CPU backend, so `auto` never picks it.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// A lost device (for good), or the first error reported outside an error scope since the
    /// last check (once: one refused request does not disable the device).
    pub(crate) fn check(&self) -> Result<(), GpuError> {
        let poisoned = || GpuError::Internal("the device's error record is poisoned".into());
        if let Some(lost) = self.lost.lock().map_err(|_| poisoned())?.clone() {
            return Err(lost);
        }
        match self.uncaptured.lock().map_err(|_| poisoned())?.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Waits for all submitted work.
    pub(crate) fn wait(&self) -> Result<(), GpuError> {
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::DeviceLost(e.to_string()))?;
        self.check()
    }

    /// A bind group layout of buffers for a compute shader, binding k described by
    /// `bindings[k]`: `Some(read_only)` for a storage buffer, `None` for a uniform.
    pub(crate) fn buffer_layout(
        &self,
        label: &str,
        bindings: &[Option<bool>],
    ) -> Result<wgpu::BindGroupLayout, GpuError> {
        let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
            .iter()
            .enumerate()
            .map(|(binding, kind)| wgpu::BindGroupLayoutEntry {
                binding: binding as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match kind {
                        Some(read_only) => wgpu::BufferBindingType::Storage { read_only: *read_only },
                        None => wgpu::BufferBindingType::Uniform,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        self.scoped(|d| {
            d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(label), entries: &entries })
        })
    }

    /// Compiles the WGSL `source` (entry point `main`) into a compute pipeline over one bind
    /// group of `layout`. A refused shader is a bug in the WGSL writer and comes back as an error.
    pub(crate) fn compute_pipeline(
        &self,
        label: &str,
        layout: &wgpu::BindGroupLayout,
        source: String,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        self.scoped(|d| {
            let pipeline_layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            });
            let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            })
        })
    }

    /// The bytes of `buffers` (`MAP_READ` buffers that submitted copies fill): maps them all,
    /// waits for the device, copies, unmaps.
    pub(crate) fn read_back(&self, buffers: &[&wgpu::Buffer]) -> Result<Vec<Vec<u8>>, GpuError> {
        let (sender, receiver) = std::sync::mpsc::channel();
        for buffer in buffers {
            let sender = sender.clone();
            buffer.slice(..).map_async(wgpu::MapMode::Read, move |result| {
                let _ = sender.send(result);
            });
        }
        drop(sender);
        self.wait()?;
        for result in receiver.iter() {
            result.map_err(|e| GpuError::DeviceLost(format!("reading results back: {e}")))?;
        }
        buffers
            .iter()
            .map(|buffer| {
                let view = buffer
                    .slice(..)
                    .get_mapped_range()
                    .map_err(|e| GpuError::Internal(format!("reading results back: {e}")))?;
                let bytes = view.to_vec();
                drop(view);
                buffer.unmap();
                Ok(bytes)
            })
            .collect()
    }

    /// Runs `create` inside error scopes, so a refusal (too large, out of memory) comes back as
    /// an error rather than through the uncaptured-error handler.
    pub(crate) fn scoped<T>(&self, create: impl FnOnce(&wgpu::Device) -> T) -> Result<T, GpuError> {
        let out_of_memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = create(&self.device);
        let refused = pollster::block_on(validation.pop());
        let exhausted = pollster::block_on(out_of_memory.pop());
        if let Some(error) = exhausted.or(refused) {
            return Err(classify(error));
        }
        Ok(value)
    }
}
