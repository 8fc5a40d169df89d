//! `rechunk strategies`: every registered strategy with its description and parameters
//! (name, default, meaning), as text or `--json`.

use anyhow::Result;
use rechunk_strategies::registry;
use serde::Serialize;

use super::common::print_stdout;

/// Options of `rechunk strategies`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print JSON: [{"name", "description", "oracle", "params": [{"name", "default", "help"}]}].
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct StrategyJson {
    name: &'static str,
    description: &'static str,
    /// Ignores the layer budget (a bound, not a contender).
    oracle: bool,
    params: Vec<ParamJson>,
}

#[derive(Serialize)]
struct ParamJson {
    name: &'static str,
    default: String,
    help: &'static str,
}

pub fn run(args: Args) -> Result<()> {
    let list: Vec<StrategyJson> = registry()
        .iter()
        .map(|s| StrategyJson {
            name: s.name(),
            description: s.description(),
            oracle: s.is_oracle(),
            params: s
                .params()
                .into_iter()
                .map(|p| ParamJson {
                    name: p.name,
                    default: p.value,
                    help: p.help,
                })
                .collect(),
        })
        .collect();
    if args.json {
        return print_stdout(&(serde_json::to_string_pretty(&list)? + "\n"));
    }
    print_stdout(&render(&list))
}

fn render(list: &[StrategyJson]) -> String {
    use std::fmt::Write;
    let width = list
        .iter()
        .flat_map(|s| &s.params)
        .map(|p| p.name.len() + 1 + p.default.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (i, s) in list.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let oracle = if s.oracle { " (oracle)" } else { "" };
        let _ = writeln!(out, "{}{oracle}: {}", s.name, s.description);
        if s.params.is_empty() {
            out.push_str("  no parameters\n");
        }
        for p in &s.params {
            let setting = format!("{}={}", p.name, p.default);
            let _ = writeln!(out, "  --param {setting:<width$}  {}", p.help);
        }
    }
    out
}
