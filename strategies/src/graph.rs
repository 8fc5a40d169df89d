//! `graph`: a dependency-graph partitioner in the spirit of Nix's `buildLayeredImage` and
//! Nixery.
//!
//! 1. The requires graph (component → the components it requires, `Component.requires`, as the
//!    rpmdb loader resolved them) gets a virtual root pointing at every component nothing
//!    requires (and at one member of every cycle nothing outside requires).
//! 2. The dominator tree of that graph splits it into groups: each child of the root together
//!    with everything it dominates. A component reached only through one application is that
//!    application's private dependency and travels with it; a component several groups
//!    require (glibc, openssl) is dominated by the root alone and forms its own group.
//! 3. Each group has a popularity (how many components outside it require it, directly or
//!    not) and a change rate (changes per year of its members: changelog entries of the last
//!    year, else contentmeta's count, else the changes observed in `input.history` scaled to a
//!    year; changes-always content counts as changing every build).
//! 4. Groups are ordered from stable and popular to volatile and unpopular, and cut into at
//!    most `max_layers` contiguous runs of about equal size (a group larger than
//!    `size_balance` × the average layer stays alone), so shared rarely-changing packages sit
//!    in the bottom layers and volatile applications on top.
//!
//! Without requires (a lockfile history, contentmeta) every component is its own group with
//! popularity 0, and the plan degrades to change-rate-ordered, size-balanced runs.

use std::collections::{BTreeMap, VecDeque};

use petgraph::algo::dominators::simple_fast;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use rechunk_model::{Component, Layer, Plan, PlanInput};

use crate::registry::{check, ParamReader, Params};
use crate::signal::{self, YEAR};
use crate::{ParamSpec, Strategy, StrategyError};

/// The dependency-graph partitioner.
#[derive(Clone, Debug)]
pub struct Graph {
    /// A run is closed once it would exceed this multiple of the average layer size.
    pub size_balance: f64,
}

/// Components that travel together, with what orders them.
#[derive(Clone, Debug)]
struct Group {
    members: Vec<usize>,
    size: u64,
    changes_per_year: f64,
    popularity: usize,
    /// Name of the dominating component, for deterministic ties.
    name: String,
}

/// Changes per year given to content that is rebuilt with every image.
const ALWAYS: f64 = 1e6;

impl Default for Graph {
    fn default() -> Self {
        Graph { size_balance: 1.0 }
    }
}

impl Graph {
    pub fn from_params(params: &Params) -> Result<Self, StrategyError> {
        let mut r = ParamReader::new("graph", params);
        let s = Graph {
            size_balance: r.get(
                "size_balance",
                Graph::default().size_balance,
                check::positive_f64,
            )?,
        };
        r.finish()?;
        Ok(s)
    }
}

impl Strategy for Graph {
    fn name(&self) -> &'static str {
        "graph"
    }
    fn description(&self) -> &'static str {
        "dependency graph: dominator-tree groups, shared stable packages at the bottom"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::new(
            "size_balance",
            self.size_balance,
            "a layer is closed when the next group would take it past this x the average size",
        )]
    }
    fn plan(&self, input: &PlanInput) -> Result<Plan, StrategyError> {
        if input.max_layers == 0 {
            return Err(StrategyError::ZeroBudget);
        }
        let comps = input.components;
        if comps.is_empty() {
            return Ok(Plan::default());
        }
        let rates: Vec<f64> = comps.iter().map(|c| changes_per_year(c, input)).collect();
        let mut groups = groups(comps, &rates);
        groups.sort_by(|a, b| {
            a.changes_per_year
                .total_cmp(&b.changes_per_year)
                .then(b.popularity.cmp(&a.popularity))
                .then_with(|| a.name.cmp(&b.name))
        });
        let runs = self.cut(&groups, input.max_layers);
        Ok(Plan::new(
            runs.into_iter()
                .map(|run| {
                    Layer::new(
                        run.iter().flat_map(|&g| {
                            groups[g].members.iter().map(|&i| comps[i].name.clone())
                        }),
                    )
                })
                .collect(),
        ))
    }
}

/// Changes per year of one component, in the shared fallback order.
fn changes_per_year(c: &Component, input: &PlanInput) -> f64 {
    if c.kind.changes_always() {
        return ALWAYS;
    }
    if !c.changelog_times.is_empty() {
        let newest = c.build_time.unwrap_or(input.now).max(input.now);
        return signal::count_between(&c.changelog_times, newest - YEAR, i64::MAX) as f64;
    }
    if let Some(f) = c.change_frequency {
        return f64::from(f);
    }
    let h = input.history;
    let (Some(&first), true) = (h.builds.first(), h.is_informative()) else {
        return 0.0;
    };
    let since = (input.now - YEAR).max(first);
    let span = (input.now - since).max(1) as f64;
    let count = signal::count_between(h.changes_of(&c.name), since, input.now) as f64;
    count * YEAR as f64 / span
}

/// Dominator-tree groups of the requires graph, with popularity and change rate.
fn groups(comps: &[Component], rates: &[f64]) -> Vec<Group> {
    let index: BTreeMap<&str, usize> = comps
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut g: DiGraph<(), ()> = DiGraph::with_capacity(comps.len() + 1, 0);
    let nodes: Vec<NodeIndex> = (0..comps.len()).map(|_| g.add_node(())).collect();
    for (i, c) in comps.iter().enumerate() {
        let mut targets: Vec<usize> = c
            .requires
            .iter()
            .filter_map(|r| index.get(r.as_str()).copied())
            .filter(|&j| j != i)
            .collect();
        targets.sort_unstable();
        targets.dedup();
        for j in targets {
            g.add_edge(nodes[i], nodes[j], ());
        }
    }
    let root = g.add_node(());
    connect_root(&mut g, root, &nodes);
    let dom = simple_fast(&g, root);
    // top[i]: the child of the root whose subtree holds i.
    let mut top: Vec<Option<usize>> = vec![None; comps.len()];
    for (i, &node) in nodes.iter().enumerate() {
        let mut chain = vec![i];
        let mut at = node;
        let found = loop {
            match dom.immediate_dominator(at) {
                Some(parent) if parent == root => break chain.last().copied(),
                Some(parent) => {
                    let p = parent.index();
                    if let Some(t) = top[p] {
                        break Some(t);
                    }
                    chain.push(p);
                    at = parent;
                }
                None => break Some(i),
            }
        };
        for j in chain {
            top[j] = found;
        }
    }
    let mut by_top: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, t) in top.iter().enumerate() {
        by_top.entry(t.unwrap_or(i)).or_default().push(i);
    }
    let group_of: Vec<usize> = {
        let mut v = vec![0; comps.len()];
        for (gi, members) in by_top.values().enumerate() {
            for &m in members {
                v[m] = gi;
            }
        }
        v
    };
    by_top
        .into_iter()
        .map(|(t, members)| Group {
            size: members.iter().map(|&m| comps[m].size).sum(),
            changes_per_year: members.iter().map(|&m| rates[m]).sum(),
            popularity: popularity(&g, nodes[t], root, &group_of, group_of[t]),
            name: comps[t].name.clone(),
            members,
        })
        .collect()
}

/// Root edges to every component nothing requires, then to the first unreached component of
/// each cycle nothing outside requires, until everything is reachable.
fn connect_root(g: &mut DiGraph<(), ()>, root: NodeIndex, nodes: &[NodeIndex]) {
    for &n in nodes {
        if g.neighbors_directed(n, Direction::Incoming)
            .next()
            .is_none()
        {
            g.add_edge(root, n, ());
        }
    }
    let mut reached = vec![false; g.node_count()];
    let mut queue = VecDeque::from([root]);
    reached[root.index()] = true;
    let mut next_unreached = 0;
    loop {
        while let Some(n) = queue.pop_front() {
            for m in g.neighbors(n) {
                if !reached[m.index()] {
                    reached[m.index()] = true;
                    queue.push_back(m);
                }
            }
        }
        while next_unreached < nodes.len() && reached[nodes[next_unreached].index()] {
            next_unreached += 1;
        }
        let Some(&n) = nodes.get(next_unreached) else {
            return;
        };
        g.add_edge(root, n, ());
        reached[n.index()] = true;
        queue.push_back(n);
    }
}

/// Components outside group `own` that require `top`, directly or through others.
fn popularity(
    g: &DiGraph<(), ()>,
    top: NodeIndex,
    root: NodeIndex,
    group_of: &[usize],
    own: usize,
) -> usize {
    let mut seen = vec![false; g.node_count()];
    let mut queue = VecDeque::from([top]);
    seen[top.index()] = true;
    let mut count = 0;
    while let Some(n) = queue.pop_front() {
        for m in g.neighbors_directed(n, Direction::Incoming) {
            if m == root || seen[m.index()] {
                continue;
            }
            seen[m.index()] = true;
            if group_of[m.index()] != own {
                count += 1;
            }
            queue.push_back(m);
        }
    }
    count
}

impl Graph {
    /// Contiguous runs of `groups` (already ordered), at most `budget`, about equal in size.
    fn cut(&self, groups: &[Group], budget: usize) -> Vec<Vec<usize>> {
        let total: u64 = groups.iter().map(|g| g.size).sum();
        let target = self.size_balance * total as f64 / budget as f64;
        let mut runs: Vec<Vec<usize>> = Vec::new();
        let mut current: Vec<usize> = Vec::new();
        let mut size = 0u64;
        for (i, group) in groups.iter().enumerate() {
            let over = (size + group.size) as f64 > target;
            let groups_left = groups.len() - i;
            // Close the run when it would overflow, or when every later group can still
            // have a layer of its own (keeps small inputs one group per layer).
            let room = runs.len() + 1 < budget;
            if !current.is_empty() && room && (over || groups_left < budget - runs.len()) {
                runs.push(std::mem::take(&mut current));
                size = 0;
            }
            current.push(i);
            size += group.size;
        }
        if !current.is_empty() {
            runs.push(current);
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rechunk_model::{ChangeHistory, ComponentKind};

    fn comp(name: &str, size: u64, freq: u32, requires: &[&str]) -> Component {
        let mut c = Component::new(name, ComponentKind::Package, "1", size);
        c.change_frequency = Some(freq);
        c.requires = requires.iter().map(|r| r.to_string()).collect();
        c
    }

    fn plan(comps: &mut Vec<Component>, budget: usize) -> Vec<Vec<String>> {
        comps.sort_by(|a, b| a.name.cmp(&b.name));
        let h = ChangeHistory::default();
        let input = PlanInput {
            components: comps,
            now: 0,
            history: &h,
            previous: None,
            max_layers: budget,
        };
        let p = Graph::default().plan(&input).unwrap_or_default();
        assert_eq!(p.validate(comps, budget), Ok(()));
        p.layers
            .into_iter()
            .map(|l| {
                let mut c = l.components;
                c.sort();
                c
            })
            .collect()
    }

    #[test]
    fn private_dependencies_travel_with_their_application() {
        // app1 → libfoo → glibc; app2 → glibc. libfoo is app1's alone; glibc is required by
        // two groups, so it is its own group. Changes per year: glibc 1, app1 + libfoo
        // 5 + 5 = 10, app2 20: that is the order, bottom up. Budget 3: a layer per group.
        let mut comps = vec![
            comp("app1", 10, 5, &["libfoo"]),
            comp("libfoo", 10, 5, &["glibc"]),
            comp("app2", 10, 20, &["glibc", "missing-dep"]),
            comp("glibc", 10, 1, &[]),
        ];
        let layers = plan(&mut comps, 3);
        assert_eq!(
            layers,
            vec![vec!["glibc"], vec!["app1", "libfoo"], vec!["app2"]]
        );
    }

    #[test]
    fn cycles_and_no_requires_still_give_valid_plans() {
        let mut comps = vec![
            comp("a", 5, 1, &["b"]),
            comp("b", 5, 1, &["a"]),
            comp("c", 5, 3, &[]),
            comp("d", 5, 2, &[]),
        ];
        let layers = plan(&mut comps, 2);
        assert_eq!(layers.len(), 2);
        // The a↔b cycle is one group (a reached first dominates b).
        let of_a = layers.iter().position(|l| l.contains(&"a".to_string()));
        let of_b = layers.iter().position(|l| l.contains(&"b".to_string()));
        assert_eq!(of_a, of_b);
        let mut flat = vec![
            comp("x", 1, 4, &[]),
            comp("y", 1, 1, &[]),
            comp("z", 1, 2, &[]),
        ];
        // No requires: ordered by change rate, one per layer.
        assert_eq!(plan(&mut flat, 3), vec![vec!["y"], vec!["z"], vec!["x"]]);
    }
}
