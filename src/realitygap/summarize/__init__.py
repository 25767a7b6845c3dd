"""The report: metrics JSON for DVC, summary.md, report.html and figures."""
