//! `rechunk inspect IMAGE`: an image's layers (digest, size, components), its config basics and
//! the plan it carries.

use std::fmt::Write as _;

use anyhow::Context;
use rechunk_oci::{open_image, previous_plan, ImageRef, OSTREE_COMPONENTS};
use serde_json::json;

use super::common::{human_bytes, print_stdout};

/// Options of `rechunk inspect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// oci:DIR[:TAG], oci-archive:FILE[:TAG], or a manifest / config / `skopeo inspect` JSON file.
    pub image: String,
    /// Print a JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let reference = ImageRef::parse(&args.image)?;
    let image = open_image(&reference).with_context(|| format!("reading image {reference}"))?;
    let plan = previous_plan(&image)?;
    let config = image.config.as_ref();
    let arch = config
        .and_then(|c| c["architecture"].as_str())
        .unwrap_or("?");
    let os = config.and_then(|c| c["os"].as_str()).unwrap_or("?");
    let components = |l: &rechunk_oci::LayerInfo| -> Vec<String> {
        l.annotations
            .get(OSTREE_COMPONENTS)
            .map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_default()
    };
    if args.json {
        let layers: Vec<_> = image
            .layers
            .iter()
            .map(|l| {
                json!({"digest": l.digest, "size": l.size, "media_type": l.media_type,
                       "components": components(l)})
            })
            .collect();
        let out = json!({
            "reference": image.source,
            "manifest_digest": image.manifest_digest,
            "architecture": arch,
            "os": os,
            "created": image.created,
            "layers_total": image.layers.len(),
            "layer_bytes": image.layer_bytes(),
            "labels": image.labels.keys().collect::<Vec<_>>(),
            "plan_format": plan.as_ref().map(|p| format!("{:?}", p.format)),
            "layers": layers,
        });
        return print_stdout(&format!("{}\n", serde_json::to_string_pretty(&out)?));
    }
    let mut s = String::new();
    let _ = writeln!(s, "image    {}", image.source);
    if let Some(d) = &image.manifest_digest {
        let _ = writeln!(s, "manifest {d}");
    }
    let _ = writeln!(
        s,
        "platform {os}/{arch}   created {}",
        image.created.as_deref().unwrap_or("?")
    );
    let _ = writeln!(
        s,
        "layers   {} ({}), plan from: {}",
        image.layers.len(),
        human_bytes(image.layer_bytes()),
        plan.as_ref()
            .map_or("none".to_string(), |p| format!("{:?}", p.format))
    );
    let _ = writeln!(s, "{:>4}  {:<19} {:>10}  components", "#", "digest", "size");
    for (i, l) in image.layers.iter().enumerate() {
        let names = components(l);
        let shown = match names.len() {
            0 => "-".to_string(),
            n if n <= 4 => names.join(", "),
            n => format!("{} and {} more", names[..3].join(", "), n - 3),
        };
        let short = l.digest.get(..19).unwrap_or(&l.digest);
        let _ = writeln!(
            s,
            "{:>4}  {short:<19} {:>10}  {shown}",
            i + 1,
            human_bytes(l.size)
        );
    }
    print_stdout(&s)
}
