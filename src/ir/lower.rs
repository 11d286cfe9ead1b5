//! Symbolic DAG → [`Kernel`]: emits the nodes reachable from the roots, in topological
//! order, one instruction each. Sharing in the DAG becomes sharing in the SSA program.

use super::kernel::{IR_VERSION, Inst, Kernel, Outputs, ValueId, VerifiedKernel, VerifyError};
use crate::symbolic::{Graph, Node, Roots};

/// Lowers `roots` of `graph` into a kernel with the given names, verified.
pub fn lower(
    graph: &Graph,
    roots: &Roots,
    var_names: &[String],
    param_names: &[String],
) -> Result<VerifiedKernel, VerifyError> {
    let live = graph.reachable(roots.all());
    let mut value_of: Vec<Option<ValueId>> = vec![None; graph.len()];
    let mut insts = Vec::new();
    // Inputs first (variables, then parameters, in their own order), then the computation:
    // a stable, readable layout for the text form.
    let mut order: Vec<usize> = (0..graph.len()).filter(|i| live[*i]).collect();
    order.sort_by_key(|i| match graph.nodes()[*i] {
        Node::Var(v) => (0, v.0, 0),
        Node::Param(p) => (1, p.0, 0),
        Node::Response => (2, 0, 0),
        _ => (3, 0, *i as u32),
    });
    for i in order {
        let get = |n: &crate::symbolic::NodeId| value_of[n.index()].expect("operands are emitted first");
        let inst = match graph.nodes()[i] {
            Node::Const(bits) => Inst::Const(f64::from_bits(bits)),
            Node::Var(v) => Inst::Var(v),
            Node::Param(p) => Inst::Param(p),
            Node::Response => Inst::Response,
            Node::Unary(op, a) => Inst::Unary(op, get(&a)),
            Node::Binary(op, a, b) => Inst::Binary(op, get(&a), get(&b)),
        };
        value_of[i] = Some(ValueId(insts.len() as u32));
        insts.push(inst);
    }
    let out = |n: crate::symbolic::NodeId| value_of[n.index()].expect("roots are live");
    let kernel = Kernel {
        version: IR_VERSION,
        var_names: var_names.to_vec(),
        param_names: param_names.to_vec(),
        insts,
        outputs: Outputs {
            value: out(roots.value),
            derivatives: roots.derivatives.iter().map(|d| out(*d)).collect(),
            response: roots.response.map(out),
        },
    };
    // Verified like a loaded kernel: a failure here is a bug in lowering (or a model past
    // `MAX_INSTRUCTIONS`), reported, never compiled.
    VerifiedKernel::new(kernel)
}
