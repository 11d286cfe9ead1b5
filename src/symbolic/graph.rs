//! A hash-consed expression DAG: the symbolic form of a model and its derivatives.
//!
//! Nodes are appended children first and never removed, so the arena is always in
//! topological order and identical subexpressions are stored once.

use crate::ops::{BinaryOp, ParamId, UnaryOp, VarId};
use std::collections::HashMap;

/// Index of a node in a [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One node. Constants are stored as bits, so that the node can be hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    Const(u64),
    Var(VarId),
    Param(ParamId),
    /// The observed response `y` (used by a transformed left side such as `log[y]`).
    Response,
    Unary(UnaryOp, NodeId),
    Binary(BinaryOp, NodeId, NodeId),
}

impl Node {
    pub fn constant(value: f64) -> Node {
        Node::Const(value.to_bits())
    }

    /// The value of a constant node.
    pub fn as_const(&self) -> Option<f64> {
        match self {
            Node::Const(bits) => Some(f64::from_bits(*bits)),
            _ => None,
        }
    }

    /// The node's operands.
    pub fn children(&self) -> impl Iterator<Item = NodeId> {
        let (a, b) = match *self {
            Node::Unary(_, a) => (Some(a), None),
            Node::Binary(_, a, b) => (Some(a), Some(b)),
            _ => (None, None),
        };
        a.into_iter().chain(b)
    }
}

/// The DAG. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    index: HashMap<Node, NodeId>,
}

impl Graph {
    /// Adds `node` (whose operands must already be in the graph), or returns the id of the
    /// identical node already there.
    pub fn add(&mut self, node: Node) -> NodeId {
        debug_assert!(node.children().all(|c| c.index() < self.nodes.len()));
        if let Some(id) = self.index.get(&node) {
            return *id;
        }
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(node);
        self.index.insert(node, id);
        id
    }

    pub fn constant(&mut self, value: f64) -> NodeId {
        self.add(Node::constant(value))
    }

    pub fn unary(&mut self, op: UnaryOp, a: NodeId) -> NodeId {
        self.add(Node::Unary(op, a))
    }

    pub fn binary(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> NodeId {
        self.add(Node::Binary(op, a, b))
    }

    pub fn node(&self, id: NodeId) -> Node {
        self.nodes[id.index()]
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The constant value of `id`, if it is a constant node.
    pub fn const_value(&self, id: NodeId) -> Option<f64> {
        self.node(id).as_const()
    }

    /// Marks the nodes reachable from `roots` (a forward-safe backward sweep: no recursion).
    pub fn reachable(&self, roots: impl IntoIterator<Item = NodeId>) -> Vec<bool> {
        let mut live = vec![false; self.nodes.len()];
        for r in roots {
            live[r.index()] = true;
        }
        for i in (0..self.nodes.len()).rev() {
            if live[i] {
                for c in self.nodes[i].children() {
                    live[c.index()] = true;
                }
            }
        }
        live
    }

    /// How many nodes are reachable from `roots`: the size of the shared DAG.
    pub fn dag_size(&self, roots: impl IntoIterator<Item = NodeId>) -> usize {
        self.reachable(roots).iter().filter(|l| **l).count()
    }

    /// Evaluates every node up to `root` at one point (reference semantics, used by tests).
    pub fn eval(&self, root: NodeId, vars: &[f64], params: &[f64], response: f64) -> f64 {
        let mut values = vec![0.0; root.index() + 1];
        for i in 0..=root.index() {
            values[i] = match self.nodes[i] {
                Node::Const(bits) => f64::from_bits(bits),
                Node::Var(v) => vars[v.index()],
                Node::Param(p) => params[p.index()],
                Node::Response => response,
                Node::Unary(op, a) => op.eval(values[a.index()]),
                Node::Binary(op, a, b) => op.eval(values[a.index()], values[b.index()]),
            };
        }
        values[root.index()]
    }
}

/// What a model computes, as roots in a [`Graph`].
#[derive(Clone, Debug)]
pub struct Roots {
    /// The model value f.
    pub value: NodeId,
    /// ∂f/∂p_k for every parameter, in parameter order.
    pub derivatives: Vec<NodeId>,
    /// The transformed response t(y) for a left side such as `log[y]`; `None` for plain `y`.
    pub response: Option<NodeId>,
}

impl Roots {
    pub fn all(&self) -> impl Iterator<Item = NodeId> + '_ {
        std::iter::once(self.value).chain(self.derivatives.iter().copied()).chain(self.response)
    }
}

impl Graph {
    /// Copies the nodes of `from` up to `last` into this graph, each leaf replaced by
    /// `leaf(node)` (a `Var`, `Param`, constant or `Response`); returns where each node of
    /// `from` went.
    pub fn import(&mut self, from: &Graph, last: NodeId, leaf: impl Fn(Node) -> Node) -> Vec<NodeId> {
        let mut map: Vec<NodeId> = Vec::with_capacity(last.index() + 1);
        for node in &from.nodes[..=last.index()] {
            let copied = match *node {
                Node::Unary(op, a) => Node::Unary(op, map[a.index()]),
                Node::Binary(op, a, b) => Node::Binary(op, map[a.index()], map[b.index()]),
                leaf_node => leaf(leaf_node),
            };
            map.push(self.add(copied));
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_nodes_are_shared() {
        let mut g = Graph::default();
        let x = g.add(Node::Var(VarId(0)));
        let e1 = g.unary(UnaryOp::Exp, x);
        let e2 = g.unary(UnaryOp::Exp, x);
        assert_eq!(e1, e2);
        assert_eq!(g.len(), 2);
        // -0.0 and 0.0 are different constants.
        assert_ne!(g.constant(0.0), g.constant(-0.0));
    }
}
