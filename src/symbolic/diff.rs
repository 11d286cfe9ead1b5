//! Symbolic differentiation: ∂f/∂p_k for every parameter, built into the same graph as f so
//! that the derivatives share f's subexpressions (one `exp` node serves f and all of ∂f).
//!
//! Forward mode over the topologically ordered arena: one loop per parameter, no
//! recursion. A derivative that is identically zero is tracked as `None` rather than built,
//! so no `0 * ...` terms appear. `abs`, `sign`, `min` and `max` get their almost-everywhere
//! derivatives.

use super::graph::{Graph, Node, NodeId};
use crate::ops::{BinaryOp as B, ParamId, UnaryOp as U};

/// The most nodes a graph may grow to while differentiating: the kernel could not hold more
/// ([`crate::ir::MAX_INSTRUCTIONS`]), and a model's derivatives can grow quadratically (those
/// of a product of n parameters hold n² factors), so this is where such a model is refused —
/// in about a second — instead of filling memory.
pub const MAX_GRAPH_NODES: usize = 1 << 20;

/// A model whose value and derivatives need more than [`MAX_GRAPH_NODES`] nodes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "model too large: its value and derivatives need more than {limit} expression nodes (after {done} of {params} parameters' derivatives); fix some parameters, or write repeated factors as powers"
)]
pub struct TooLarge {
    pub limit: usize,
    pub done: usize,
    pub params: usize,
}

/// Returns ∂root/∂p_k for k in `0..n_params`, appending the derivative nodes to `graph`;
/// refused when the graph would outgrow [`MAX_GRAPH_NODES`].
///
/// Each derivative visits only the nodes that depend on its parameter (found through the
/// users of each node, built once), not the whole graph: a model of many parameters, each in
/// a few nodes, costs about its size once per parameter's reach rather than parameters × size.
pub fn differentiate(graph: &mut Graph, root: NodeId, n_params: usize) -> Result<Vec<NodeId>, TooLarge> {
    let n = root.index() + 1;
    // The users of every node up to the root, as one CSR array, and each parameter's node.
    let mut param_node: Vec<Option<usize>> = vec![None; n_params];
    let mut counts = vec![0u32; n + 1];
    for i in 0..n {
        match graph.node(NodeId(i as u32)) {
            Node::Param(q) if q.index() < n_params => param_node[q.index()] = Some(i),
            Node::Unary(_, a) => counts[a.index() + 1] += 1,
            Node::Binary(_, a, b) => {
                counts[a.index() + 1] += 1;
                if b != a {
                    counts[b.index() + 1] += 1;
                }
            }
            _ => {}
        }
    }
    for i in 0..n {
        counts[i + 1] += counts[i];
    }
    let starts = counts.clone();
    let mut users = vec![0u32; counts[n] as usize];
    let mut fill = counts;
    for i in 0..n {
        let mut add = |operand: NodeId| {
            users[fill[operand.index()] as usize] = i as u32;
            fill[operand.index()] += 1;
        };
        match graph.node(NodeId(i as u32)) {
            Node::Unary(_, a) => add(a),
            Node::Binary(_, a, b) => {
                add(a);
                if b != a {
                    add(b);
                }
            }
            _ => {}
        }
    }

    let mut d: Vec<Option<NodeId>> = vec![None; n];
    let mut seen = vec![u32::MAX; n];
    let (mut affected, mut stack) = (Vec::new(), Vec::new());
    let mut derivatives = Vec::with_capacity(n_params);
    for (k, node) in param_node.iter().enumerate() {
        let Some(start) = *node else {
            derivatives.push(graph.constant(0.0));
            continue;
        };
        // The nodes that depend on p_k, in topological (index) order.
        affected.clear();
        stack.push(start);
        seen[start] = k as u32;
        while let Some(i) = stack.pop() {
            affected.push(i);
            for &u in &users[starts[i] as usize..starts[i + 1] as usize] {
                if seen[u as usize] != k as u32 {
                    seen[u as usize] = k as u32;
                    stack.push(u as usize);
                }
            }
        }
        affected.sort_unstable();
        let p = ParamId(k as u32);
        let mut b = Build { g: graph };
        for &i in &affected {
            d[i] = b.step(NodeId(i as u32), p, &d);
        }
        derivatives.push(d[root.index()].unwrap_or_else(|| graph.constant(0.0)));
        for &i in &affected {
            d[i] = None;
        }
        if graph.len() > MAX_GRAPH_NODES {
            return Err(TooLarge { limit: MAX_GRAPH_NODES, done: k + 1, params: n_params });
        }
    }
    Ok(derivatives)
}

/// Builders that skip multiplications by one; used only on derivative terms.
struct Build<'g> {
    g: &'g mut Graph,
}

impl Build<'_> {
    /// ∂this/∂p from its operands' derivatives in `d` (`None`: identically zero).
    fn step(&mut self, this: NodeId, p: ParamId, d: &[Option<NodeId>]) -> Option<NodeId> {
        match self.g.node(this) {
            Node::Param(q) if q == p => Some(self.c(1.0)),
            Node::Const(_) | Node::Var(_) | Node::Param(_) | Node::Response => None,
            Node::Unary(op, u) => d[u.index()].and_then(|du| self.unary(op, this, u, du)),
            Node::Binary(op, u, v) => self.binary(op, this, u, v, d[u.index()], d[v.index()]),
        }
    }

    fn c(&mut self, v: f64) -> NodeId {
        self.g.constant(v)
    }
    fn is(&self, a: NodeId, v: f64) -> bool {
        self.g.const_value(a) == Some(v)
    }
    fn mul(&mut self, a: NodeId, b: NodeId) -> NodeId {
        if self.is(a, 1.0) {
            b
        } else if self.is(b, 1.0) {
            a
        } else {
            self.g.binary(B::Mul, a, b)
        }
    }
    fn div(&mut self, a: NodeId, b: NodeId) -> NodeId {
        if self.is(b, 1.0) { a } else { self.g.binary(B::Div, a, b) }
    }
    fn add(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.g.binary(B::Add, a, b)
    }
    fn sub(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.g.binary(B::Sub, a, b)
    }
    fn neg(&mut self, a: NodeId) -> NodeId {
        self.g.unary(U::Neg, a)
    }
    fn un(&mut self, op: U, a: NodeId) -> NodeId {
        self.g.unary(op, a)
    }
    fn sq(&mut self, a: NodeId) -> NodeId {
        self.g.binary(B::Mul, a, a)
    }

    /// d(op(u)) given du; `this` is the node op(u) itself, reused where the derivative has it.
    fn unary(&mut self, op: U, this: NodeId, u: NodeId, du: NodeId) -> Option<NodeId> {
        let one = self.c(1.0);
        Some(match op {
            U::Neg => self.neg(du),
            U::Exp => self.mul(this, du),
            U::Ln => self.div(du, u),
            U::Log10 | U::Log2 => {
                let ln_base = if op == U::Log10 { std::f64::consts::LN_10 } else { std::f64::consts::LN_2 };
                let k = self.c(ln_base);
                let den = self.mul(u, k);
                self.div(du, den)
            }
            U::Sqrt => {
                let two = self.c(2.0);
                let den = self.mul(two, this);
                self.div(du, den)
            }
            U::Cbrt => {
                let three = self.c(3.0);
                let sq = self.sq(this);
                let den = self.mul(three, sq);
                self.div(du, den)
            }
            U::Abs => {
                let s = self.un(U::Sign, u);
                self.mul(s, du)
            }
            U::Sign => return None,
            U::Sin => {
                let c = self.un(U::Cos, u);
                self.mul(c, du)
            }
            U::Cos => {
                let s = self.un(U::Sin, u);
                let t = self.mul(s, du);
                self.neg(t)
            }
            U::Tan => {
                let t2 = self.sq(this);
                let f = self.add(one, t2);
                self.mul(f, du)
            }
            U::Asin | U::Acos => {
                let u2 = self.sq(u);
                let r = self.sub(one, u2);
                let s = self.un(U::Sqrt, r);
                let q = self.div(du, s);
                if op == U::Asin { q } else { self.neg(q) }
            }
            U::Atan => {
                let u2 = self.sq(u);
                let den = self.add(one, u2);
                self.div(du, den)
            }
            U::Sinh => {
                let c = self.un(U::Cosh, u);
                self.mul(c, du)
            }
            U::Cosh => {
                let s = self.un(U::Sinh, u);
                self.mul(s, du)
            }
            U::Tanh => {
                let t2 = self.sq(this);
                let f = self.sub(one, t2);
                self.mul(f, du)
            }
            U::Asinh => {
                let u2 = self.sq(u);
                let r = self.add(u2, one);
                let s = self.un(U::Sqrt, r);
                self.div(du, s)
            }
            U::Acosh => {
                // 1/sqrt(u²-1) as 1/(sqrt(u-1)·sqrt(u+1)): no cancellation near u = 1.
                let um = self.sub(u, one);
                let up = self.add(u, one);
                let sm = self.un(U::Sqrt, um);
                let sp = self.un(U::Sqrt, up);
                let den = self.mul(sm, sp);
                self.div(du, den)
            }
            U::Atanh => {
                let u2 = self.sq(u);
                let den = self.sub(one, u2);
                self.div(du, den)
            }
            U::Erf | U::Erfc => {
                let k = self.c(2.0 / std::f64::consts::PI.sqrt());
                let u2 = self.sq(u);
                let nu2 = self.neg(u2);
                let e = self.un(U::Exp, nu2);
                let ke = self.mul(k, e);
                let t = self.mul(ke, du);
                if op == U::Erf { t } else { self.neg(t) }
            }
            U::LGamma => {
                let zero = self.c(0.0);
                let psi = self.g.binary(B::Polygamma, zero, u);
                self.mul(psi, du)
            }
        })
    }

    /// d(op(u, v)) given du and dv (`None` = zero); `this` is op(u, v) itself.
    fn binary(
        &mut self,
        op: B,
        this: NodeId,
        u: NodeId,
        v: NodeId,
        du: Option<NodeId>,
        dv: Option<NodeId>,
    ) -> Option<NodeId> {
        if du.is_none() && dv.is_none() {
            return None;
        }
        Some(match op {
            B::Add => match (du, dv) {
                (Some(a), Some(b)) => self.add(a, b),
                (a, b) => a.or(b)?,
            },
            B::Sub => match (du, dv) {
                (Some(a), Some(b)) => self.sub(a, b),
                (Some(a), None) => a,
                (None, Some(b)) => self.neg(b),
                (None, None) => return None,
            },
            B::Mul => {
                let left = du.map(|du| self.mul(du, v));
                let right = dv.map(|dv| self.mul(u, dv));
                self.sum(left, right)?
            }
            B::Div => match (du, dv) {
                (Some(du), None) => self.div(du, v),
                // d(u/v) = (du - (u/v)·dv) / v, reusing the quotient itself.
                (du, Some(dv)) => {
                    let qdv = self.mul(this, dv);
                    let num = match du {
                        Some(du) => self.sub(du, qdv),
                        None => self.neg(qdv),
                    };
                    self.div(num, v)
                }
                (None, None) => return None,
            },
            B::Pow => {
                // d(u^v) = v·u^(v-1)·du + u^v·ln(u)·dv; the ln term only when v varies, so a
                // constant exponent never takes the log of a negative base.
                let base_term = du.map(|du| {
                    let factor = match self.g.const_value(v) {
                        Some(c) => {
                            let cm1 = c - 1.0;
                            let p = if cm1 == 1.0 {
                                u
                            } else {
                                let e = self.c(cm1);
                                self.g.binary(B::Pow, u, e)
                            };
                            let cc = self.c(c);
                            self.mul(cc, p)
                        }
                        None => {
                            let one = self.c(1.0);
                            let vm1 = self.sub(v, one);
                            let p = self.g.binary(B::Pow, u, vm1);
                            self.mul(v, p)
                        }
                    };
                    self.mul(factor, du)
                });
                // u^v·ln(u) as xlogy(u^v, u): 0 rather than 0·(-inf) = NaN where u = 0.
                let exp_term = dv.map(|dv| {
                    let t = self.g.binary(B::XLogY, this, u);
                    self.mul(t, dv)
                });
                self.sum(base_term, exp_term)?
            }
            B::Atan2 => {
                // d atan2(u, v) = (v·du - u·dv) / (u² + v²)
                let a = du.map(|du| self.mul(v, du));
                let b = dv.map(|dv| self.mul(u, dv));
                let num = match (a, b) {
                    (Some(a), Some(b)) => self.sub(a, b),
                    (Some(a), None) => a,
                    (None, Some(b)) => self.neg(b),
                    (None, None) => return None,
                };
                let u2 = self.sq(u);
                let v2 = self.sq(v);
                let den = self.add(u2, v2);
                self.div(num, den)
            }
            B::Min | B::Max => {
                // min: du where u < v, else dv. max: du where v < u, else dv.
                let pick_u = if op == B::Min { self.g.binary(B::Less, u, v) } else { self.g.binary(B::Less, v, u) };
                let a = du.map(|du| self.mul(du, pick_u));
                let b = dv.map(|dv| {
                    let one = self.c(1.0);
                    let pick_v = self.sub(one, pick_u);
                    self.mul(dv, pick_v)
                });
                self.sum(a, b)?
            }
            B::Less => return None,
            B::Polygamma => {
                // d ψ⁽ⁿ⁾(v) = ψ⁽ⁿ⁺¹⁾(v)·dv. The order is a constant (the resolver takes no
                // other), so du is None; were it not, the derivative would be undefined: NaN.
                if du.is_some() {
                    return Some(self.c(f64::NAN));
                }
                let one = self.c(1.0);
                let next = self.add(u, one);
                let higher = self.g.binary(B::Polygamma, next, v);
                self.mul(higher, dv?)
            }
            B::FaddeevaRe | B::FaddeevaIm => {
                // w' = −2z·w + 2i/√π, z = u + iv (Cauchy–Riemann): with P = −2(u·Re w − v·Im w)
                // and Q = 2/√π − 2(u·Im w + v·Re w), d Re w = P·du − Q·dv, d Im w = Q·du + P·dv.
                let re = self.g.binary(B::FaddeevaRe, u, v);
                let im = self.g.binary(B::FaddeevaIm, u, v);
                let (ure, vim) = (self.mul(u, re), self.mul(v, im));
                let inner_p = self.sub(ure, vim);
                let m2 = self.c(-2.0);
                let p = self.mul(m2, inner_p);
                let (uim, vre) = (self.mul(u, im), self.mul(v, re));
                let inner_q = self.add(uim, vre);
                let two_over_sqrt_pi = self.c(std::f64::consts::FRAC_2_SQRT_PI);
                let m2q = self.mul(m2, inner_q);
                let q = self.add(two_over_sqrt_pi, m2q);
                let (along_u, along_v) = if op == B::FaddeevaRe { (p, q) } else { (q, p) };
                let a = du.map(|du| self.mul(along_u, du));
                let b = dv.map(|dv| self.mul(along_v, dv));
                if op == B::FaddeevaRe {
                    // P·du − Q·dv
                    match (a, b) {
                        (Some(a), Some(b)) => self.sub(a, b),
                        (Some(a), None) => a,
                        (None, Some(b)) => self.neg(b),
                        (None, None) => return None,
                    }
                } else {
                    self.sum(a, b)?
                }
            }
            B::XLogY => {
                // d(u·ln v) = xlogy(du, v) + u·dv/v
                let a = du.map(|du| self.g.binary(B::XLogY, du, v));
                let b = dv.map(|dv| {
                    let udv = self.mul(u, dv);
                    self.div(udv, v)
                });
                self.sum(a, b)?
            }
        })
    }

    fn sum(&mut self, a: Option<NodeId>, b: Option<NodeId>) -> Option<NodeId> {
        match (a, b) {
            (Some(a), Some(b)) => Some(self.add(a, b)),
            (a, b) => a.or(b),
        }
    }
}
