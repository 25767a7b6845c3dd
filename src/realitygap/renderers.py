"""Renderers as plugins, so the search works on a user's own simulator.

A renderer spec (params `simsearch.renderer`) is one of
- `{type: builtin}`: realitygap's own renderer, in process;
- `{type: entry_point, name: N}`: a callable `fn(params: dict, out: str)` registered by a package under
  the entry-point group `realitygap.renderers`;
- `{type: command, command: "..."}`: a shell command template with `{params}` (a JSON file of the
  trial's render parameters), `{out}` (the folder to write) and `{seed}`.

Plugins write the ingest layout: `out/images/<id>.png` and `out/masks/<id>.png` holding class indices in the
order of the task's class set (params `classes`, passed to the plugin as `params["classes"]`); it is
validated like a user's ingested domain, and images must have the configured size."""

from __future__ import annotations

import importlib.metadata
import shlex
import shutil
import subprocess
from pathlib import Path

from realitygap.classes import ClassSet
from realitygap.ingest.stage import ingest_mask_folders
from realitygap.io import InputError, read_image, write_json
from realitygap.render.stage import run_render

ENTRY_POINT_GROUP = "realitygap.renderers"


class PluginError(InputError):
    """A renderer plugin failed or wrote something the workflow cannot read."""


def render_with(renderer: dict, params: dict, seed: int, out: Path, domain: str = "trial") -> Path:
    """Render a dataset with `renderer` into `out` (the layout every stage reads) and return `out`."""
    if renderer["type"] == "builtin":
        return run_render(domain, params, seed, out)
    if not params.get("classes"):
        raise PluginError("a renderer plugin needs the task's class set (`classes` of the render params)")
    raw = out.with_name(out.name + ".plugin")   # the plugin's own output: kept when it fails, for the error's files
    shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir(parents=True)
    if renderer["type"] == "command":
        run_command(renderer["command"], params, seed, raw)
    else:
        entry_point(renderer["name"])({**params, "seed": seed}, str(raw))
    ingest_plugin_output(raw, params["size"], ClassSet.from_json(params["classes"]), domain, out)
    shutil.rmtree(raw)
    return out


def run_command(template: str, params: dict, seed: int, raw: Path) -> None:
    """Run a command-template plugin; a non-zero exit raises PluginError with the end of its output."""
    params_file = raw / "params.json"
    write_json(params_file, {**params, "seed": seed})
    command = template.format(params=shlex.quote(str(params_file)), out=shlex.quote(str(raw)), seed=seed)
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise PluginError(f"renderer command failed (exit {done.returncode}): {command}\n  " + "\n  ".join(tail))


def entry_point(name: str):
    """The renderer callable registered as `name` in the `realitygap.renderers` entry-point group."""
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        known = sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
        raise PluginError(f"no renderer {name!r} in entry-point group {ENTRY_POINT_GROUP!r} (installed: {known})")
    return next(iter(found)).load()


def ingest_plugin_output(raw: Path, size: int, classes: ClassSet, domain: str, out: Path) -> Path:
    """Validate a plugin's images and masks (present, readable, `size` x `size`, values of `classes`) and
    import them as a dataset."""
    if not (raw / "images").is_dir():
        raise PluginError(f"{raw}: the renderer wrote no images/ folder")
    for image in sorted((raw / "images").iterdir()):
        shape = read_image(image).shape[:2]
        if shape != (size, size):
            raise PluginError(f"{image}: renderer wrote a {shape[1]}x{shape[0]} image, expected {size}x{size}")
    class_map = {str(i): name for i, name in enumerate(classes.names)}
    ingest_mask_folders(raw / "images", raw / "masks", class_map, classes, domain, out)
    return out


def render_look(renderer: dict, render: dict, look: dict, count: int, scene_domain: str, seed: int,
                out: str | Path, domain: str) -> Path:
    """Render `count` images of `render["scene"]`'s scenes (those of `scene_domain`) with `look`
    ({factors, randomise}) through `renderer`: a trial's training set, or the best look's domain."""
    params = {"size": render["size"], "scene": render["scene"], "count": count, "scene_domain": scene_domain,
              "factors": look["factors"], "randomise": look.get("randomise", {}), "classes": render.get("classes")}
    return render_with(renderer, params, seed, Path(out), domain)
