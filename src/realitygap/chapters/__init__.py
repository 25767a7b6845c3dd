"""Report chapters: each track's reading of its results. A chapter module exposes `collect(ctx, metrics)`
(its metrics.json entries, and the figures they need) and `sections(ctx, metrics)` (its report sections);
`summarize` walks its registry of chapters in order and numbers their sections."""
