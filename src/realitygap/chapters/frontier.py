"""Figures and report text of the frontier explorer: the walk strips and the GAN's per-epoch images."""

from __future__ import annotations

import os
from pathlib import Path

from realitygap.chapters.base import Context, Section, table
from realitygap.chapters.counterfactual import label_colours
from realitygap.figures import plt, save_figure
from realitygap.io import read_json


def strips(walks: list[dict], mixes: list[str], class_name: str, palette: tuple, path: str | os.PathLike) -> None:
    """Per walk: the decoded frames (P(target) above each) and each model's answer below them; the
    domain classifier's frontier is framed in red, the source model's breakdown in orange; answers in the class
    colours `palette`."""
    steps = len(walks[0]["t"])
    rows = 1 + len(mixes)
    fig, axes = plt.subplots(rows * len(walks), steps, figsize=(1.3 * steps, 1.55 * rows * len(walks)), squeeze=False,
                             gridspec_kw={"hspace": 0.6})
    for w, walk in enumerate(walks):
        for j in range(steps):
            tiles = [walk["frames"][j]] + [label_colours(walk["predictions"][m][j], palette) for m in mixes]
            for r, tile in enumerate(tiles):
                ax = axes[w * rows + r][j]
                ax.imshow(tile)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"t={walk['t'][j]:.2f}\nP={walk['p_target'][j]:.2f}", fontsize=7)
                else:
                    ax.set_xlabel(f"{class_name} {100 * walk['share'][mixes[r - 1]][j]:.1f}%", fontsize=6)
                if j == 0:
                    ax.set_ylabel(["frame", *[f"{m} model" for m in mixes]][r], fontsize=7)
                for step, colour in ((walk["frontier"], "red"), (walk["breakdown"], "orange")):
                    if step == j:
                        for spine in ax.spines.values():
                            spine.set_edgecolor(colour)
                            spine.set_linewidth(2.5)
    fig.suptitle(f"Latent walks source -> target (P = domain classifier's P(target); red: 50/50 frontier, orange: "
                 f"the source model's {class_name} breaks down)", fontsize=9)
    save_figure(fig, path)


def gan_epochs(epochs: list[dict], domain: str, path: str | os.PathLike) -> None:
    """A row per epoch: the generator's samples of a fixed latent batch, with the classifier's P."""
    cols = len(epochs[0]["images"])
    fig, axes = plt.subplots(len(epochs), cols, figsize=(1.1 * cols, 1.2 * len(epochs)), squeeze=False)
    for i, epoch in enumerate(epochs):
        for j in range(cols):
            ax = axes[i][j]
            ax.imshow(epoch["images"][j])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"P={epoch['p_target'][j]:.2f}", fontsize=6)
            if j == 0:
                ax.set_ylabel(f"epoch {epoch['epoch']}", fontsize=7)
    fig.suptitle(f"WGAN-GP with the domain classifier in the loop, pushed toward '{domain}' (P = its probability)",
                 fontsize=9)
    save_figure(fig, path)


def frontier_text(summary: dict, source: str, target: str, class_name: str) -> str:
    """A plain-language reading of the walks."""
    def at(v):
        return "never" if v is None else f"at t = {v:.2f} on average"
    return (f"A VAE trained on {source} and {target} images, and a domain classifier ({100 * summary['classifier_test_accuracy']:.0f} % "
            f"right on held-out test images). Walking the VAE's latent segment from each of {summary['pairs']} {source} "
            f"test images to a {target} one, the classifier's 50/50 frontier was crossed {at(summary['frontier_t_mean'])} "
            f"({summary['frontier_found']} walks), and the {summary['source_model']}-trained model's {class_name} share fell "
            f"below half of its start {at(summary['breakdown_t_mean'])} ({summary['breakdown_found']} walks; before the "
            f"frontier in {summary['breakdown_before_frontier']}). Below the strips, the WGAN-GP's samples per epoch with the "
            f"classifier in the loop (final mean P = {summary['gan_final_p_target']:.2f}).")


def frontier_rows(frontier: Path) -> list[list]:
    """A row per latent walk: its images, frontier and breakdown steps, P(target) at its start, middle and end."""
    walks = read_json(frontier / "frontier.json")["walks"]
    return [[k + 1, w["source_id"], w["target_id"], w["frontier"], w["breakdown"], w["p_target"][0],
             w["p_target"][len(w["p_target"]) // 2], w["p_target"][-1]] for k, w in enumerate(walks)]


def collect(ctx: Context, metrics: dict) -> None:
    if ctx.frontier_dir:
        metrics["frontier"] = read_json(Path(ctx.frontier_dir) / "frontier.json")["summary"]


def sections(ctx: Context, metrics: dict) -> list[Section]:
    if not ctx.frontier_dir:
        return []
    folder, cfg = Path(ctx.frontier_dir), ctx.params["frontier"]
    header = ["walk", "source image", "target image", "frontier step", "breakdown step",
              *[f"P(target) at t={t}" for t in (0, 0.5, 1)]]
    return [Section("The way from sim to real: generative frontier",
                    frontier_text(metrics["frontier"], cfg["source_mix"], cfg["target_mix"], cfg["class"]),
                    table(header, frontier_rows(folder)), (folder / "strips.png", folder / "gan_epochs.png"))]
