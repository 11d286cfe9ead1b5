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
    /// Shaders reach the driver as SPIR-V with every float operation `NoContraction`
    /// ([`exact_spirv`]); false where the backend takes no SPIR-V (Metal, DX12).
    exact: bool,
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
    // f64 shaders where the adapter has them (the finish of a fit then stays on the device);
    // on Vulkan, our own SPIR-V (see `exact_spirv`).
    let mut wanted = wgpu::Features::SHADER_F64;
    if info.backend == wgpu::Backend::Vulkan {
        wanted |= wgpu::Features::PASSTHROUGH_SHADERS;
    }
    let features = adapter.features() & wanted;
    let exact = features.contains(wgpu::Features::PASSTHROUGH_SHADERS);
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
    Ok(GpuDevice { device, queue, limits, info, exact, lost, uncaptured })
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

    /// True when the shaders' float arithmetic is exactly the interpreter's: each operation
    /// rounded on its own, never `a*b + c` fused into one FMA ([`exact_spirv`]).
    pub fn exact_arithmetic(&self) -> bool {
        self.exact
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
        self.scoped(|d| -> Result<wgpu::ComputePipeline, GpuError> {
            let pipeline_layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            });
            let module = match self.exact.then(|| exact_spirv(&source, self.has_f64())) {
                Some(Ok(words)) => {
                    let entry = wgpu::PassthroughShaderEntryPoint {
                        name: "main".into(),
                        workgroup_size: (crate::backend::wgsl::WORKGROUP_SIZE, 1, 1),
                    };
                    let descriptor = wgpu::ShaderModuleDescriptorPassthrough {
                        label: Some(label),
                        entry_points: vec![entry].into(),
                        spirv: Some(words.into()),
                        ..Default::default()
                    };
                    // SAFETY: the words are naga's SPIR-V for a module naga validated (with
                    // bounds-checked indexing), plus decorations that only forbid contraction.
                    unsafe { d.create_shader_module_passthrough(descriptor) }
                }
                Some(Err(e)) => return Err(GpuError::Internal(format!("{label}: {e}"))),
                None => d.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                }),
            };
            Ok(d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            }))
        })?
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

/// SPIR-V's `NoContraction` decoration.
const NO_CONTRACTION: u32 = 42;

/// The compute shader `source` as naga's SPIR-V, with the result of every float add,
/// subtract, multiply and divide decorated `NoContraction`. Without it a Vulkan driver may fuse
/// `a*b + c` into one FMA — NVIDIA's does (an H200: exp(a·x) 212 ulp from the interpreter's
/// near overflow, the same Σr² differing between two kernels) — and the shaders would no longer
/// compute what the interpreter and Cranelift compute, bit for bit.
pub(crate) fn exact_spirv(source: &str, f64: bool) -> Result<Vec<u32>, String> {
    use naga::back::spv;
    use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy};
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    let capabilities = if f64 { naga::valid::Capabilities::FLOAT64 } else { naga::valid::Capabilities::empty() };
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
        .validate(&module)
        .map_err(|e| e.emit_to_string(source))?;
    let restrict = BoundsCheckPolicy::Restrict;
    let options = spv::Options {
        flags: spv::WriterFlags::empty(),
        // Every kernel writes its workgroup array before the barrier that precedes any read
        // (the reductions' partial sums); naga's polyfill zeroing tripled lavapipe's compile
        // time and halved its throughput.
        zero_initialize_workgroup_memory: spv::ZeroInitializeWorkgroupMemoryMode::None,
        bounds_check_policies: BoundsCheckPolicies {
            index: restrict,
            buffer: restrict,
            image_load: restrict,
            binding_array: restrict,
        },
        ..Default::default()
    };
    let pipeline = spv::PipelineOptions { shader_stage: naga::ShaderStage::Compute, entry_point: "main".into() };
    let words = spv::write_vec(&module, &info, &options, Some(&pipeline)).map_err(|e| e.to_string())?;
    Ok(no_contraction(&words))
}

/// `words` with `OpDecorate %r NoContraction` for every result `%r` of OpFAdd, OpFSub,
/// OpFMul, OpFDiv, OpVectorTimesScalar and OpDot, placed after the module's other
/// annotations (SPIR-V's logical layout: debug names, then annotations, then types).
fn no_contraction(words: &[u32]) -> Vec<u32> {
    // Opcodes that may precede the types section: source and debug instructions,
    // capabilities, extensions, imports, the memory model, entry points, execution modes and
    // annotations.
    const PREAMBLE: [u32; 24] =
        [2, 3, 4, 5, 6, 7, 8, 10, 11, 14, 15, 16, 17, 71, 72, 73, 74, 75, 317, 330, 331, 332, 5632, 5633];
    const FLOAT_OPS: [u32; 6] = [129, 131, 133, 136, 142, 148];
    const HEADER: usize = 5;
    let mut insert_at = None;
    let mut decorations = Vec::new();
    let mut i = HEADER;
    while i < words.len() {
        let (count, opcode) = ((words[i] >> 16) as usize, words[i] & 0xffff);
        if count == 0 || i + count > words.len() {
            break; // malformed: leave the module as naga wrote it
        }
        if insert_at.is_none() && !PREAMBLE.contains(&opcode) {
            insert_at = Some(i);
        }
        if FLOAT_OPS.contains(&opcode) && count >= 3 {
            decorations.extend([(3 << 16) | 71, words[i + 2], NO_CONTRACTION]);
        }
        i += count;
    }
    let at = insert_at.unwrap_or(words.len()).min(words.len());
    let mut out = Vec::with_capacity(words.len() + decorations.len());
    out.extend_from_slice(&words[..at]);
    out.extend(decorations);
    out.extend_from_slice(&words[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every float add, subtract, multiply and divide gets one `NoContraction`, placed after
    /// the preamble and before the first type; nothing else moves.
    #[test]
    fn every_float_operation_is_marked_no_contraction() {
        let source = "@group(0) @binding(0) var<storage, read_write> v: array<f32>;\n\
            @compute @workgroup_size(64)\n\
            fn main(@builtin(global_invocation_id) id: vec3<u32>) {\n\
                let i = id.x;\n\
                v[i] = v[i] * v[i + 1u] + v[i + 2u] - v[i + 3u] / v[i + 4u];\n\
            }\n";
        let words = exact_spirv(source, false).unwrap();
        let instructions = |words: &[u32]| {
            let mut out = Vec::new();
            let mut i = 5;
            while i < words.len() {
                let count = (words[i] >> 16) as usize;
                out.push(words[i..i + count].to_vec());
                i += count;
            }
            out
        };
        let all = instructions(&words);
        let float_results: Vec<u32> =
            all.iter().filter(|w| [129, 131, 133, 136].contains(&(w[0] & 0xffff))).map(|w| w[2]).collect();
        let marked: Vec<u32> = all
            .iter()
            .filter(|w| w[0] & 0xffff == 71 && w.len() == 3 && w[2] == NO_CONTRACTION)
            .map(|w| w[1])
            .collect();
        assert_eq!(float_results.len(), 4, "a multiply, an add, a subtract and a divide");
        assert_eq!(marked, float_results);
        let first_type = all.iter().position(|w| (19..=39).contains(&(w[0] & 0xffff))).unwrap();
        let last_mark = all.iter().rposition(|w| w[0] & 0xffff == 71 && w.get(2) == Some(&NO_CONTRACTION)).unwrap();
        assert!(last_mark < first_type);
        // Without the decorations, the words are naga's.
        let mut stripped = all.clone();
        stripped.retain(|w| !(w[0] & 0xffff == 71 && w.len() == 3 && w[2] == NO_CONTRACTION));
        assert_eq!(stripped.len(), all.len() - 4);
    }
}
