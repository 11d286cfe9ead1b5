//! The Cranelift backend: native code for the kernels of a model, compiled from its IR
//! in about a millisecond. Transcendental functions call the same Rust implementations as
//! the interpreter (see `runtime`), so results agree bit for bit.

mod codegen;
mod math;
mod runtime;

pub use codegen::KernelKind;

use super::{
    BackendError, Chunk, Kernels, NormalEquations, check_chunk, check_normal_equations, check_residual_jacobian,
    check_residuals, check_shapes,
};
use crate::ir::VerifiedKernel;
use crate::loss::LossSpec;
use codegen::{Imports, KernelFn, KernelShape, build_kernel, kernel_signature};
use cranelift_codegen::ir::UserFuncName;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// A model's compiled kernels. Dropping it frees the machine code.
pub struct CraneliftKernels {
    kernel: VerifiedKernel,
    residual_jacobian: KernelFn,
    /// Owns the code of `residual_jacobian`.
    #[allow(dead_code)]
    eager: CompiledModule,
    /// `predict` and `residuals`, compiled on first use: a fit evaluates r with J
    /// (`residual_jacobian`), so plots, `convert` and problems without it need them.
    per_point: std::sync::OnceLock<Result<CompiledModule, BackendError>>,
    /// `normal_equations` and `sum_of_squares`, compiled on first use: [weighted, unweighted]
    /// (the second reads no weights: ×1 is exact, so its sums are the first's with w = 1, bit
    /// for bit, without a load and a product per point and derivative).
    streaming: [std::sync::OnceLock<Result<CompiledModule, BackendError>>; 2],
    /// Their robust-loss versions, compiled on first use.
    robust: std::sync::OnceLock<Result<CompiledModule, BackendError>>,
    compile_time: Duration,
}

impl std::fmt::Debug for CraneliftKernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CraneliftKernels").field("compile_time", &self.compile_time).finish_non_exhaustive()
    }
}

/// A description of the code-generation target (triple, ISA features, settings). It is part
/// of the cache key: kernels compiled for one CPU are never reused on another.
pub fn target_description() -> &'static str {
    static DESCRIPTION: LazyLock<String> = LazyLock::new(|| match isa(false) {
        Ok(isa) => {
            let flags: Vec<String> = isa.isa_flags().iter().map(|v| v.to_string()).collect();
            format!("{} {} {}", isa.triple(), isa.flags(), flags.join(" "))
        }
        Err(e) => format!("unsupported host: {e}"),
    });
    &DESCRIPTION
}

/// Kernels longer than this, or with more parameters than [`FAST_COMPILE_PARAMS`], are
/// compiled for compile time rather than speed: Cranelift's optimizer and backtracking register
/// allocator are superlinear there (a 126 250-instruction kernel took 12.5 s, one of 15 000
/// instructions and 5 000 parameters 3.6 s; with `opt_level=none` and the single-pass
/// allocator 0.19 s and 0.1 s; 12 000 instructions 0.55 s). No model of normal size comes near
/// (20 Gaussians on a line lower to a few hundred).
pub const FAST_COMPILE_INSTRUCTIONS: usize = 5_000;
/// See [`FAST_COMPILE_INSTRUCTIONS`].
pub const FAST_COMPILE_PARAMS: usize = 1_000;

/// Models with more parameters than this accumulate their normal equations from blocks of J
/// rows instead of one fused kernel, which carries all p(p+1)/2 sums through its loop
/// (p = 300: 45 000 loop-carried values, 33 s in Cranelift before the fit could start).
pub const FUSED_MAX_PARAMS: usize = 64;

/// How many `f64x2` values a kernel's vector loop computes per step: four (eight points, four
/// chains the processor overlaps; two were 3–12% slower: exp decay normal equations 5.8–5.9 →
/// 5.1 ns/point, Σr² 4.1–4.2 → 3.9, damped sine 16.1 → 14.9, the 10^7 fit's pass 43–44 → 42–43
/// ms in `examples/large`) for the streaming kernels of large data; one for
/// `residual_jacobian`, compiled before every fit (each more costs compile time, which a small
/// fit pays in full); none for `predict` and `residuals` (plots, conversions). Measured with
/// `examples/throughput.rs` and `jitfit fit … --json` (compile_seconds) on the 100-point decay:
/// exp decay normal equations 20.6 ns/point scalar, 18.3 with one pair, 12.4 with two;
/// residual_jacobian 13.5 scalar, 8.8 with one pair (gauss2d 35 → 24–29), compiled in 1.4–1.8
/// ms scalar, 2.0–2.5 with one pair, 2.4–3.3 with two. A kernel compiled for compile time (see
/// [`FAST_COMPILE_INSTRUCTIONS`]) has no vector loop.
fn vector_copies(kind: KernelKind) -> usize {
    match kind {
        KernelKind::Predict | KernelKind::Residuals => 0,
        KernelKind::ResidualJacobian => 1,
        _ => 4,
    }
}

/// Whether a kernel is compiled for compile time (see [`FAST_COMPILE_INSTRUCTIONS`]).
pub fn compiles_fast(kernel: &VerifiedKernel) -> bool {
    kernel.insts.len() > FAST_COMPILE_INSTRUCTIONS || kernel.param_names.len() > FAST_COMPILE_PARAMS
}

/// The target; `fast`: compiled for compile time (see [`FAST_COMPILE_INSTRUCTIONS`]).
fn isa(fast: bool) -> Result<std::sync::Arc<dyn cranelift_codegen::isa::TargetIsa>, String> {
    let mut flags = settings::builder();
    // A kernel whose frame is larger than a page touches each page in order, so that a frame
    // too large for its thread's stack hits the guard page (a clean stack-overflow abort)
    // instead of stepping over it into other memory.
    flags.set("enable_probestack", "true").map_err(|e| e.to_string())?;
    flags.set("probestack_strategy", "inline").map_err(|e| e.to_string())?;
    if fast {
        flags.set("opt_level", "none").map_err(|e| e.to_string())?;
        flags.set("regalloc_algorithm", "single_pass").map_err(|e| e.to_string())?;
        // Cranelift's own IR verifier is quadratic on such functions (a 300-parameter
        // normal-equations kernel: 33 s); the kernel IR it is generated from is verified, and
        // the same generator is verified by Cranelift on every kernel of normal size.
        flags.set("enable_verifier", "false").map_err(|e| e.to_string())?;
    } else {
        flags.set("opt_level", "speed").map_err(|e| e.to_string())?;
    }
    let isa_builder = cranelift_native::builder().map_err(|e| e.to_string())?;
    isa_builder.finish(settings::Flags::new(flags)).map_err(|e| e.to_string())
}

/// Machine code for some kernels of one IR, freed on drop.
struct CompiledModule {
    functions: Vec<KernelFn>,
    /// Owns the code the function pointers point into; `None` only while dropping.
    module: Mutex<Option<JITModule>>,
}

impl CompiledModule {
    /// `weighted`: the kernels read the weights (else they take every weight as 1 and must
    /// only be called on chunks without weights).
    fn compile(
        kernel: &VerifiedKernel,
        kinds: &[(&str, KernelKind)],
        weighted: bool,
    ) -> Result<CompiledModule, BackendError> {
        let compile_error = |e: &dyn std::fmt::Display| BackendError::Compile(e.to_string());
        let fast = compiles_fast(kernel);
        let isa = isa(fast).map_err(|e| compile_error(&e))?;
        let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
        for (name, address) in runtime::all_symbols() {
            builder.symbol(name, address);
        }
        let mut module = JITModule::new(builder);
        let mut imports = Imports::default();
        let mut context = module.make_context();
        let mut builder_context = FunctionBuilderContext::new();
        let signature = kernel_signature(&module);
        let mut ids = Vec::new();
        for (index, (name, kind)) in kinds.iter().enumerate() {
            let id = module.declare_function(name, Linkage::Local, &signature).map_err(|e| compile_error(&e))?;
            context.func.signature = signature.clone();
            context.func.name = UserFuncName::user(0, index as u32);
            let copies = if fast { 0 } else { vector_copies(*kind) };
            let shape = KernelShape { kind: *kind, copies, weighted };
            build_kernel(&mut module, &mut imports, &mut context.func, &mut builder_context, kernel, shape)
                .map_err(|e| compile_error(&e))?;
            module.define_function(id, &mut context).map_err(|e| compile_error(&e))?;
            module.clear_context(&mut context);
            ids.push(id);
        }
        module.finalize_definitions().map_err(|e| compile_error(&e))?;
        // SAFETY: each id was defined above with `kernel_signature`, which is `KernelFn`'s
        // signature; the code lives as long as `module`, which `self` owns.
        let functions = ids
            .into_iter()
            .map(|id| unsafe { std::mem::transmute::<*const u8, KernelFn>(module.get_finalized_function(id)) })
            .collect();
        Ok(CompiledModule { functions, module: Mutex::new(Some(module)) })
    }
}

impl Drop for CompiledModule {
    fn drop(&mut self) {
        let module = self.module.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(module) = module {
            // SAFETY: the function pointers into this module are only reachable through its
            // owner, which is being dropped: nothing can call them any more.
            unsafe { module.free_memory() };
        }
    }
}

impl CraneliftKernels {
    /// Compiles `residual_jacobian` now (what a dense fit evaluates); `predict` and
    /// `residuals`, and the streaming kernels (`normal_equations`, `sum_of_squares`), on first
    /// use, so that a small fit pays for none of them (the CLI's 100-point fit: 2.0 ms of
    /// compilation for three kernels, 0.9 ms for one).
    pub fn compile(kernel: &VerifiedKernel) -> Result<CraneliftKernels, BackendError> {
        let started = Instant::now();
        let eager = CompiledModule::compile(kernel, &[("residual_jacobian", KernelKind::ResidualJacobian)], true)?;
        Ok(CraneliftKernels {
            kernel: kernel.clone(),
            residual_jacobian: eager.functions[0],
            eager,
            per_point: std::sync::OnceLock::new(),
            streaming: [std::sync::OnceLock::new(), std::sync::OnceLock::new()],
            robust: std::sync::OnceLock::new(),
            compile_time: started.elapsed(),
        })
    }

    /// How long compilation took (IR → machine code for the eager kernels, module set-up
    /// included).
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    /// (predict, residuals), compiled once.
    fn per_point(&self) -> Result<(KernelFn, KernelFn), BackendError> {
        let module = self.per_point.get_or_init(|| {
            CompiledModule::compile(
                &self.kernel,
                &[("predict", KernelKind::Predict), ("residuals", KernelKind::Residuals)],
                true,
            )
        });
        match module {
            Ok(m) => Ok((m.functions[0], m.functions[1])),
            Err(e) => Err(e.clone()),
        }
    }

    /// The streaming kernels for the chunk (weighted or not): (normal_equations,
    /// sum_of_squares), compiled once each.
    fn streaming(&self, chunk: &Chunk<'_>) -> Result<(Option<KernelFn>, KernelFn), BackendError> {
        let weighted = chunk.weights.is_some();
        let module = self.streaming[usize::from(!weighted)].get_or_init(|| {
            let kinds: &[(&str, KernelKind)] = if self.fused() {
                &[("normal_equations", KernelKind::NormalEquations), ("sum_of_squares", KernelKind::SumOfSquares)]
            } else {
                &[("sum_of_squares", KernelKind::SumOfSquares)]
            };
            CompiledModule::compile(&self.kernel, kinds, weighted)
        });
        match module {
            Ok(m) if m.functions.len() == 2 => Ok((Some(m.functions[0]), m.functions[1])),
            Ok(m) => Ok((None, m.functions[0])),
            Err(e) => Err(e.clone()),
        }
    }

    /// The robust-loss streaming kernels: (normal equations, cost), compiled once.
    fn robust_kernels(&self) -> Result<(Option<KernelFn>, KernelFn), BackendError> {
        let module = self.robust.get_or_init(|| {
            let kinds: &[(&str, KernelKind)] = if self.fused() {
                &[
                    ("robust_normal_equations", KernelKind::RobustNormalEquations),
                    ("robust_cost", KernelKind::RobustCost),
                ]
            } else {
                &[("robust_cost", KernelKind::RobustCost)]
            };
            CompiledModule::compile(&self.kernel, kinds, true)
        });
        match module {
            Ok(m) if m.functions.len() == 2 => Ok((Some(m.functions[0]), m.functions[1])),
            Ok(m) => Ok((None, m.functions[0])),
            Err(e) => Err(e.clone()),
        }
    }

    /// Whether the normal equations are one fused kernel (see [`FUSED_MAX_PARAMS`]).
    fn fused(&self) -> bool {
        self.kernel.n_params() <= FUSED_MAX_PARAMS
    }

    /// JᵀJ, Jᵀr and the cost from blocks of rows of J (the `residual_jacobian` kernel), for
    /// models with more than [`FUSED_MAX_PARAMS`] parameters; `loss`: the robust loss, if any.
    fn normal_equations_by_rows(
        &self,
        chunk: &Chunk<'_>,
        params: &[f64],
        loss: Option<LossSpec>,
        acc: &mut NormalEquations,
    ) -> Result<(), BackendError> {
        check_normal_equations(&self.kernel, chunk, params, acc)?;
        const BLOCK: usize = 256;
        let p = self.kernel.n_params();
        let (mut r, mut j) = (vec![0.0; BLOCK], vec![0.0; BLOCK * p]);
        let c2 = loss.map_or(1.0, |l| l.f_scale * l.f_scale);
        let mut sums = crate::solve::PointSums::new(p);
        for start in (0..chunk.len()).step_by(BLOCK) {
            let end = (start + BLOCK).min(chunk.len());
            let vars: Vec<&[f64]> = chunk.vars.iter().map(|v| &v[start..end]).collect();
            let block = Chunk { vars: &vars, y: &chunk.y[start..end], weights: chunk.weights.map(|w| &w[start..end]) };
            let len = end - start;
            self.residual_jacobian(&block, params, &mut r[..len], &mut j[..len * p])?;
            for (i, row) in j[..len * p].chunks_exact_mut(p).enumerate() {
                match loss {
                    None => sums.add_point(r[i], row),
                    Some(loss) => {
                        let (cost, scaled, j_scale) = loss.loss.point(r[i], c2);
                        row.iter_mut().for_each(|d| *d *= j_scale);
                        sums.add_point_with_cost(scaled, row, cost);
                    }
                }
            }
        }
        sums.add_to(acc);
        Ok(())
    }

    /// Runs an accumulating kernel over a chunk: `acc` is read and updated.
    ///
    /// # Safety
    /// `function` must be one of this model's accumulating kernels; the chunk's shapes must
    /// have been checked against the kernel (`check_chunk`: one column per variable, every
    /// column, `y` and the weights of the chunk's length, one value per parameter); `acc` must
    /// hold every slot that kernel accumulates into and `extra` every value it reads through
    /// `out_b` (nothing, or `[loss code, f_scale²]` for the robust kernels).
    unsafe fn accumulate(&self, function: KernelFn, chunk: &Chunk<'_>, params: &[f64], acc: &mut [f64], extra: &[f64]) {
        let var_ptrs = VarPointers::new(chunk.vars);
        let (w, w_stride) = weights(chunk);
        // SAFETY: this function's contract, passed on by its callers.
        unsafe {
            function(
                chunk.len(),
                var_ptrs.as_ptr(),
                chunk.y.as_ptr(),
                w,
                w_stride,
                params.as_ptr(),
                acc.as_mut_ptr(),
                extra.as_ptr().cast_mut(),
            )
        };
    }

    /// Runs a normal-equations kernel over a chunk, after checking its shapes.
    ///
    /// # Safety
    /// `function` must be this model's plain normal-equations kernel with `extra` empty, or
    /// its robust one with `extra` = `[loss code, f_scale²]`.
    unsafe fn normal_equations_with(
        &self,
        function: KernelFn,
        chunk: &Chunk<'_>,
        params: &[f64],
        acc: &mut NormalEquations,
        extra: &[f64],
    ) -> Result<(), BackendError> {
        check_normal_equations(&self.kernel, chunk, params, acc)?;
        let p = self.kernel.n_params();
        // The kernel accumulates into one contiguous buffer: [JᵀJ | Jᵀr | Σr²].
        let mut buffer = Vec::with_capacity(p * p + p + 1);
        buffer.extend_from_slice(&acc.jtj);
        buffer.extend_from_slice(&acc.jtr);
        buffer.push(acc.rss);
        // SAFETY: shapes checked above; the buffer holds the kernel's p² + p + 1 slots, and
        // `function`/`extra` match (this function's contract).
        unsafe { self.accumulate(function, chunk, params, &mut buffer, extra) };
        acc.jtj.copy_from_slice(&buffer[..p * p]);
        acc.jtr.copy_from_slice(&buffer[p * p..p * p + p]);
        acc.rss = buffer[p * p + p];
        Ok(())
    }
}

/// The pointers to a call's variable columns, on the stack for up to eight variables.
enum VarPointers {
    Inline([*const f64; 8]),
    Heap(Vec<*const f64>),
}

impl VarPointers {
    fn new(vars: &[&[f64]]) -> Self {
        if vars.len() <= 8 {
            let mut a = [std::ptr::null(); 8];
            for (slot, v) in a.iter_mut().zip(vars) {
                *slot = v.as_ptr();
            }
            VarPointers::Inline(a)
        } else {
            VarPointers::Heap(vars.iter().map(|v| v.as_ptr()).collect())
        }
    }

    fn as_ptr(&self) -> *const *const f64 {
        match self {
            VarPointers::Inline(a) => a.as_ptr(),
            VarPointers::Heap(v) => v.as_ptr(),
        }
    }
}

static ONE: f64 = 1.0;

/// The weight pointer and stride: a column, or the constant 1 with stride 0.
fn weights(chunk: &Chunk<'_>) -> (*const f64, usize) {
    match chunk.weights {
        Some(w) => (w.as_ptr(), 8),
        None => (&ONE as *const f64, 0),
    }
}

impl Kernels for CraneliftKernels {
    fn kernel(&self) -> &VerifiedKernel {
        &self.kernel
    }

    fn predict(&self, vars: &[&[f64]], params: &[f64], out: &mut [f64]) -> Result<(), BackendError> {
        check_shapes(&self.kernel, vars, out.len(), params)?;
        let (predict, _) = self.per_point()?;
        let var_ptrs = VarPointers::new(vars);
        // SAFETY: the shapes were checked: every column has out.len() points, params has one
        // value per parameter, and predict reads nothing else.
        unsafe {
            (predict)(
                out.len(),
                var_ptrs.as_ptr(),
                std::ptr::null(),
                &ONE,
                0,
                params.as_ptr(),
                out.as_mut_ptr(),
                std::ptr::null_mut(),
            )
        };
        Ok(())
    }

    fn residual_jacobian(
        &self,
        chunk: &Chunk<'_>,
        params: &[f64],
        residuals: &mut [f64],
        jacobian: &mut [f64],
    ) -> Result<(), BackendError> {
        check_residual_jacobian(&self.kernel, chunk, params, residuals, jacobian)?;
        let n = chunk.len();
        let var_ptrs = VarPointers::new(chunk.vars);
        let (w, w_stride) = weights(chunk);
        // SAFETY: shapes checked above; the kernel writes n residuals and n·p derivatives.
        unsafe {
            (self.residual_jacobian)(
                n,
                var_ptrs.as_ptr(),
                chunk.y.as_ptr(),
                w,
                w_stride,
                params.as_ptr(),
                residuals.as_mut_ptr(),
                jacobian.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn normal_equations(
        &self,
        chunk: &Chunk<'_>,
        params: &[f64],
        acc: &mut NormalEquations,
    ) -> Result<(), BackendError> {
        let Some(function) = self.streaming(chunk)?.0 else {
            return self.normal_equations_by_rows(chunk, params, None, acc);
        };
        // SAFETY: the plain normal-equations kernel, which reads nothing through `out_b`.
        unsafe { self.normal_equations_with(function, chunk, params, acc, &[]) }
    }

    fn residuals(&self, chunk: &Chunk<'_>, params: &[f64], out: &mut [f64]) -> Result<(), BackendError> {
        check_residuals(&self.kernel, chunk, params, out)?;
        let (_, residuals) = self.per_point()?;
        let var_ptrs = VarPointers::new(chunk.vars);
        let (w, w_stride) = weights(chunk);
        // SAFETY: shapes checked above; the kernel writes one residual per point.
        unsafe {
            (residuals)(
                chunk.len(),
                var_ptrs.as_ptr(),
                chunk.y.as_ptr(),
                w,
                w_stride,
                params.as_ptr(),
                out.as_mut_ptr(),
                std::ptr::null_mut(),
            )
        };
        Ok(())
    }

    fn sum_of_squares(&self, chunk: &Chunk<'_>, params: &[f64]) -> Result<f64, BackendError> {
        check_chunk(&self.kernel, chunk, params)?;
        let (_, function) = self.streaming(chunk)?;
        let mut sum = [0.0];
        // SAFETY: shapes checked above; the sum-of-squares kernel accumulates one slot and
        // reads nothing through `out_b`.
        unsafe { self.accumulate(function, chunk, params, &mut sum, &[]) };
        Ok(sum[0])
    }

    fn robust_normal_equations(
        &self,
        chunk: &Chunk<'_>,
        params: &[f64],
        loss: LossSpec,
        acc: &mut NormalEquations,
    ) -> Result<(), BackendError> {
        let Some(function) = self.robust_kernels()?.0 else {
            return self.normal_equations_by_rows(chunk, params, Some(loss), acc);
        };
        // SAFETY: the robust normal-equations kernel with its loss code and f_scale².
        unsafe {
            self.normal_equations_with(function, chunk, params, acc, &[loss.loss.code(), loss.f_scale * loss.f_scale])
        }
    }

    fn robust_cost(&self, chunk: &Chunk<'_>, params: &[f64], loss: LossSpec) -> Result<f64, BackendError> {
        check_chunk(&self.kernel, chunk, params)?;
        let (_, function) = self.robust_kernels()?;
        let mut sum = [0.0];
        // SAFETY: shapes checked above; the robust cost kernel accumulates one slot and reads
        // the loss code and f_scale² through `out_b`.
        unsafe { self.accumulate(function, chunk, params, &mut sum, &[loss.loss.code(), loss.f_scale * loss.f_scale]) };
        Ok(sum[0])
    }
}
