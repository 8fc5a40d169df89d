//! `rechunk diff OLD NEW`: what a client holding OLD downloads to get NEW, by blob digest, with
//! the one shared definition of the metric (`rechunk_model::update_cost`).

use anyhow::Context;
use rechunk_oci::{image_diff, open_image, ImageRef};
use serde_json::json;

use super::common::{human_bytes, print_stdout};

/// Options of `rechunk diff`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image the client holds: oci:DIR[:TAG], oci-archive:FILE[:TAG] or a manifest JSON.
    pub old: String,
    /// The image it updates to, in the same forms.
    pub new: String,
    /// Print a JSON object (download_bytes, layers_fetched, layers_total, reuse_ratio, ...).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let open = |s: &str| -> anyhow::Result<rechunk_oci::ImageInfo> {
        let r = ImageRef::parse(s)?;
        open_image(&r).with_context(|| format!("reading image {r}"))
    };
    let old = open(&args.old)?;
    let new = open(&args.new)?;
    let cost = image_diff(&old, &new);
    if args.json {
        let out = json!({
            "old": old.source,
            "new": new.source,
            "download_bytes": cost.download_bytes,
            "metadata_bytes": cost.metadata_bytes,
            "layers_fetched": cost.layers_fetched,
            "layers_total": cost.layers_total,
            "image_bytes": cost.image_bytes,
            "reuse_ratio": cost.reuse_ratio,
        });
        return print_stdout(&format!("{}\n", serde_json::to_string_pretty(&out)?));
    }
    print_stdout(&format!(
        "download {} ({} bytes) in {} of {} layers; {:.1}% of {} already held; plus {} of \
         manifest and config\n",
        human_bytes(cost.download_bytes),
        cost.download_bytes,
        cost.layers_fetched,
        cost.layers_total,
        cost.reuse_ratio * 100.0,
        human_bytes(cost.image_bytes),
        human_bytes(cost.metadata_bytes),
    ))
}
