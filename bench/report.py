#!/usr/bin/env python3
"""report.py - the README's bench table and plot, made from JSON lines.

    bench/report.py [RESULTS.json] [--svg FILE] [--readme README.md]

Reads the lines bench/netns.sh wrote (the newest bench/results/netns-*.json
by default), prints a Markdown table (one row per scenario: baseline and
xlmig side by side, with xlmig's ratios to the baseline of the same run),
writes an SVG bar chart of total time and downtime per scenario, and with
--readme replaces the text between the README's bench markers.  Standard
library only.
"""
import glob
import json
import os
import sys

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def pairs(rows):
    """(scenario, baseline, xlmig) in the order the bench ran them."""
    out, base = [], {}
    for r in rows:
        key = (r.get("scenario") or "%s-%s-%s" % (r["size"], r["link"], r["dirty"]),
               r.get("round", 1))
        if r["variant"] == "base":
            base[key] = r
        elif key in base:
            out.append((key[0], base.pop(key), r))
    return out


def fmt_s(ms):
    return "%.1f s" % (ms / 1000.0) if isinstance(ms, (int, float)) else "-"


def fmt_ms(ms):
    return "%d" % ms if isinstance(ms, (int, float)) else "-"


def choices(r):
    cc = r.get("codec_choice") or {}
    parts = ["%s %d" % (k, v["batches"]) for k, v in cc.items()
             if isinstance(v, dict) and v.get("batches")]
    return ", ".join(parts) or "-"


def table(ps):
    lines = [
        "| scenario | baseline total | xlmig total | ratio | baseline downtime ms (pred.) "
        "| xlmig downtime ms (pred.) | wire GB base / xlmig | iters | CPU s src+dst base / xlmig "
        "| xlmig peak private MiB src/dst | xlmig codec batches |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, b, x in ps:
        if b.get("error") or x.get("error"):
            lines.append("| %s | failed: %s | | | | | | | | | |"
                         % (name, (b.get("error") or x.get("error"))[:80].replace("|", "/")))
            continue
        if x.get("step") != "done" or b.get("step") != "done":
            r = x if x.get("step") != "done" else b
            lines.append("| %s | %s | %s | - | %s | %s | - | %d / %d | - | - | %s: %s |"
                         % (name, fmt_s(b["total_ms"]), fmt_s(x["total_ms"]),
                            fmt_ms(b["downtime_ms"]) if b.get("step") == "done" else "-",
                            fmt_ms(x["downtime_ms"]) if x.get("step") == "done" else "-",
                            b["iterations"], x["iterations"], r["variant"] + " " + r.get("step", "?"),
                            r.get("policy_reason", "")[:110].replace("|", "/")))
            continue
        ratio = x["total_ms"] / b["total_ms"] if b["total_ms"] else 0
        cpu = lambda r: r["cpu_s"]["source"] + r["cpu_s"]["destination"]
        rss = x.get("peak_anon_kib", {})
        lines.append(
            "| %s | %s | %s | %.2f | %s (%s) | %s (%s) | %.2f / %.2f | %d / %d | %.1f / %.1f | %d / %d | %s |"
            % (name, fmt_s(b["total_ms"]), fmt_s(x["total_ms"]), ratio,
               fmt_ms(b["downtime_ms"]), fmt_ms(b.get("predicted_downtime_ms")),
               fmt_ms(x["downtime_ms"]), fmt_ms(x.get("predicted_downtime_ms")),
               b["bytes_wire"] / 1e9, x["bytes_wire"] / 1e9,
               b["iterations"], x["iterations"], cpu(b), cpu(x),
               rss.get("source", 0) // 1024, rss.get("destination", 0) // 1024,
               choices(x)))
    over = [n for n, b, x in ps if x.get("rss_ok") is False]
    lines.append("")
    lines.append("Peak private memory of each xlmigd (RssAnon, sampled every 50 ms; the "
                 "guest itself lives in xlmig-simhost) against 64 MiB plus the delta cache "
                 "(%d MiB): %s." % (ps[0][2].get("rss_limit_kib", 0) // 1024 if ps else 0,
                                    "over in " + ", ".join(over) if over else "within it in every run"))
    return "\n".join(lines)


def svg(ps):
    """Grouped bars: total time (left axis) and downtime (right panel)."""
    ps = [p for p in ps if not p[1].get("error") and not p[2].get("error")
          and p[1].get("step") == "done" and p[2].get("step") == "done"]
    n = max(len(ps), 1)
    bw, gap, left, top, h = 12, 14, 60, 30, 220
    panel = n * (2 * bw + gap) + gap
    width = left + 2 * panel + 80
    height = top + h + 120
    tmax = max([max(b["total_ms"], x["total_ms"]) for _, b, x in ps] or [1]) / 1000.0
    dmax = max([max(b["downtime_ms"], x["downtime_ms"]) for _, b, x in ps] or [1])
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="10">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>']

    def panel_bars(x0, key, scale, unit, title):
        out.append('<text x="%d" y="18" font-size="12">%s</text>' % (x0, title))
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>'
                   % (x0, top + h, x0 + panel, top + h))
        for k in range(5):
            v = scale * k / 4
            y = top + h - h * k / 4
            out.append('<text x="%d" y="%d" text-anchor="end">%.0f%s</text>' % (x0 - 4, y + 3, v, unit))
            out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ddd"/>' % (x0, y, x0 + panel, y))
        for i, (name, b, x) in enumerate(ps):
            gx = x0 + gap + i * (2 * bw + gap)
            for j, (r, colour) in enumerate(((b, "#999"), (x, "#2a6fdb"))):
                v = r[key] / (1000.0 if key == "total_ms" else 1.0)
                bh = h * min(v / scale, 1.0) if scale else 0
                out.append('<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s">'
                           '<title>%s %s: %.1f%s</title></rect>'
                           % (gx + j * bw, top + h - bh, bw - 1, bh, colour, name,
                              r["variant"], v, unit))
            out.append('<text transform="translate(%d,%d) rotate(60)">%s</text>'
                       % (gx + 4, top + h + 8, name))

    panel_bars(left, "total_ms", tmax, "s", "total time (grey: xl-equivalent, blue: xlmig)")
    panel_bars(left + panel + 60, "downtime_ms", dmax, "", "downtime, ms")
    out.append("</svg>")
    return "\n".join(out)


def main(argv):
    path, svg_path, readme = None, None, None
    i = 0
    while i < len(argv):
        if argv[i] == "--svg":
            svg_path, i = argv[i + 1], i + 2
        elif argv[i] == "--readme":
            readme, i = argv[i + 1], i + 2
        else:
            path, i = argv[i], i + 1
    if not path:
        found = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "results", "netns-*.json")))
        if not found:
            sys.exit("report.py: no bench/results/netns-*.json; run make bench first")
        path = found[-1]
    ps = pairs(load(path))
    md = table(ps)
    print(md)
    if svg_path:
        with open(svg_path, "w") as f:
            f.write(svg(ps) + "\n")
    if readme:
        with open(readme) as f:
            text = f.read()
        if BEGIN not in text or END not in text:
            sys.exit("report.py: %s has no %s ... %s markers" % (readme, BEGIN, END))
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        body = "\nFrom `%s` (ratios are to the xl-equivalent of the same run):\n\n%s\n\n" \
               "![bench](%s)\n" % (os.path.relpath(path, os.path.dirname(readme) or "."), md,
                                   os.path.relpath(svg_path, os.path.dirname(readme) or ".")
                                   if svg_path else "")
        with open(readme, "w") as f:
            f.write(head + BEGIN + body + END + tail)


if __name__ == "__main__":
    main(sys.argv[1:])
