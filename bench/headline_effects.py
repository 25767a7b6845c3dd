"""The headline effect of each stage in a run's metrics.json: the gap, every closure with its interval, the render
search, the diagnosis' top causes, the ablations, the probe, the detectors, the pseudo-labels, the frontier and the
run time. What docs/results.md compares between the default and the study profile.

Run: python bench/headline_effects.py results/report/metrics.json
"""
import json, sys
m = json.load(open(sys.argv[1]))
g = m["semantic"]["gap"]; print("gap: sim_on_real", g["sim_on_real"], "real_on_real", g["real_on_real"], "points", g["points"])
mx = m["semantic"]["matrix"]
print("seam IoU on real: sim", mx["sim"]["real"]["IoU"].get("seam"), "real", mx["real"]["real"]["IoU"].get("seam"))
for k, v in m["policies"].items(): print("policy", k, v["gap_closed"], v["ci95"], v["gap_closed_per_seed"])
for k, v in m.get("uda", {}).get("mixes", {}).items(): print("uda", k, v["gap_closed"], v["ci95"], v["gap_closed_per_seed"])
s = m["simsearch"]; print("simsearch", s["gap_closed"], s["ci95"], s["trials"], s["complete"], s["best_val_mIoU"])
print("diagnosis top", m["diagnosis"]["ranked_causes"][:5])
for k, v in m["ablations"].items(): print("ablation", k, {x: v.get(x) for x in ("mIoU_test", "gap_points")}, v.get("delta", {}).get("mIoU_test"), v.get("delta_ci95", {}).get("mIoU_test"))
print("probe spearman", m["probe"]["spearman_vs_strength"], [(r["strength"], r["mIoU_drop"], r["mass_on_cue"]) for r in m["probe"]["rows"]])
im = m["instance"]["matrix"]
for k, v in im.items(): print("instance", k, {d: (x["segm_AP"], x["bbox_AP"]) for d, x in v.items()})
print("pseudolabel final", m["pseudolabel"]["final"]["mIoU_vs_truth"], {k: v.get("gap_closed") for k, v in m["pseudolabel_run"]["mixes"].items()} if isinstance(m["pseudolabel_run"].get("mixes"), dict) else m["pseudolabel_run"].get("mixes"))
f = m["frontier"]; print("frontier", {k: f[k] for k in ("frontier_found", "breakdown_found", "classifier_test_accuracy")})
print("timings total", m["timings_s"]["total"], "job_s", m["timings_s"]["job_seconds_total"])
