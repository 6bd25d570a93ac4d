"""HTML building blocks of the report: escaping, tables, figures, badges, the page shell.

Every string that comes from data or a user (class names, file names, column names, messages,
config values) goes through `esc` exactly once, here; callers pass plain text. Images are
embedded as ``data:`` URIs (PNG) or inline SVG; the CSS is inline; nothing is fetched.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

STATUS_LABEL = {
    "pass": "pass",
    "warning": "warning",
    "error": "error",
    "info": "info",
    "absent": "did not run",
}


def esc(value: Any) -> str:
    """Text as HTML: ``<``, ``>``, ``&`` and both quotes escaped."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value: Any, digits: int = 4) -> str:
    """A number as short text (4 significant digits), anything else as escaped text."""
    if isinstance(value, bool) or value is None:
        return esc(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        return esc(f"{value:.{digits}g}")
    return esc(value)


def png_img(data: bytes, *, alt: str, cls: str = "plot", width: int | None = None) -> str:
    """An <img> with `data` (PNG bytes) embedded as base64."""
    b64 = base64.b64encode(data).decode("ascii")
    w = f" width='{int(width)}'" if width else ""
    return f"<img class='{cls}' alt='{esc(alt)}'{w} src='data:image/png;base64,{b64}'>"


def figure(inner: str, caption: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f"<figure>{inner}{cap}</figure>"


def badge(status: str) -> str:
    return f"<span class='badge {esc(status)}'>{esc(STATUS_LABEL.get(status, status))}</span>"


def table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, cls: str = "", raw: bool = False
) -> str:
    """A table; cells are escaped (numbers formatted) unless ``raw`` (cells are HTML already)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else fmt(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<div class='scroll'><table class='{esc(cls)}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def kv_table(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{fmt(v)}</td></tr>" for k, v in pairs)
    return f"<div class='scroll'><table class='kv'>{rows}</table></div>"


def kv_grid(pairs: Iterable[tuple[str, Any]]) -> str:
    """Many short key/value pairs in flowing columns (a resolved configuration)."""
    cells = "".join(
        f"<div><span class='k'>{esc(k)}</span> <span class='v'>{'—' if v is None else fmt(v)}</span></div>"
        for k, v in pairs
    )
    return f"<div class='kvgrid'>{cells}</div>"


def pre_json(obj: Any, *, limit: int = 1500) -> str:
    """Pretty JSON in a <pre>, cut at `limit` characters (evidence can list thousands of indices)."""
    text = json.dumps(obj, indent=1, default=str, sort_keys=False)
    if len(text) > limit:
        text = text[:limit] + f"\n… ({len(text) - limit} more characters in the stage's JSON file)"
    return f"<pre>{esc(text)}</pre>"


def note(text: str, cls: str = "muted") -> str:
    return f"<p class='{cls}'>{esc(text)}</p>"


def absent(what: str, how: str = "") -> str:
    """The placeholder for a stage or a record that is not in the run folder."""
    extra = f" {esc(how)}" if how else ""
    return f"<p class='missing'>{badge('absent')} {esc(what)}{extra}</p>"


def section(anchor: str, number: int, title: str, body: str) -> str:
    return (
        f"<section id='{esc(anchor)}'><h2><span class='num'>{number}</span>{esc(title)}</h2>"
        f"{body}</section>"
    )


def bars(
    labels: Sequence[str], series: dict[str, Sequence[float]], *, fmt_value: str = "{:.0f}"
) -> str:
    """Horizontal bars in HTML: one row per label, one column per series (each scaled to its own
    maximum), the value beside each bar."""
    tops = {name: max([float(v) for v in vals] + [1e-12]) for name, vals in series.items()}
    cols = f"grid-template-columns:minmax(60px,160px) repeat({len(series)},minmax(120px,1fr))"
    head = "<div></div>" + "".join(f"<div class='barhead'>{esc(n)}</div>" for n in series)
    rows = [f"<div class='barrow' style='{cols}'>{head}</div>"]
    for i, label in enumerate(labels):
        cells = "".join(
            f"<div class='barcell'><div class='bar s{j}' style='width:{78 * float(vals[i]) / tops[name]:.1f}%'></div>"
            f"<span class='barval'>{esc(fmt_value.format(vals[i]))}</span></div>"
            for j, (name, vals) in enumerate(series.items())
        )
        rows.append(
            f"<div class='barrow' style='{cols}'><div class='barlabel' title='{esc(label)}'>{esc(label)}</div>"
            f"{cells}</div>"
        )
    return f"<div class='barchart'>{''.join(rows)}</div>"


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 28) -> str:
    """A tiny inline SVG polyline (signals, feature histograms as step lines)."""
    vals = [float(v) for v in values]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    span = hi - lo or 1.0
    n = max(len(vals) - 1, 1)
    pts = " ".join(
        f"{i * width / n:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}"
        for i, v in enumerate(vals)
    )
    return (
        f"<svg class='spark' width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img'>"
        f"<polyline fill='none' stroke='#2f6fb3' stroke-width='1.3' points='{pts}'/></svg>"
    )


def histogram_svg(counts: Sequence[float], *, width: int = 120, height: int = 28) -> str:
    """A tiny inline SVG bar histogram."""
    if not counts:
        return ""
    top = max(max(counts), 1e-12)
    w = width / len(counts)
    rects = "".join(
        f"<rect x='{i * w:.1f}' y='{height - c / top * height:.1f}' width='{max(w - 0.6, 0.4):.1f}' "
        f"height='{c / top * height:.1f}'/>"
        for i, c in enumerate(counts)
    )
    return (
        f"<svg class='spark' width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img'>"
        f"<g fill='#5b8fd1'>{rects}</g></svg>"
    )


def heat(value: float, top: float) -> str:
    """Background colour for a heat-map cell (white → blue)."""
    t = 0.0 if top <= 0 else max(0.0, min(1.0, value / top))
    r, g, b = (int(255 - t * (255 - c)) for c in (33, 102, 172))
    return f"background:rgb({r},{g},{b});color:{'#fff' if t > 0.55 else '#111'}"


CSS = """
:root{--fg:#1d232b;--muted:#5d6875;--line:#dfe3e8;--bg:#f5f7fa;--card:#fff;--pass:#1e8e4e;
--warning:#c27803;--error:#c62828;--info:#2f6fb3;--absent:#8a939e}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--fg);background:var(--bg)}
header{background:#18212c;color:#fff;padding:18px 32px 14px}
header h1{margin:0;font-size:22px;font-weight:600}
header .sub{color:#b8c2cc;font-size:13px;margin-top:2px}
header .headline{font-size:15px;margin-top:6px}
nav{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid var(--line);
padding:6px 32px;display:flex;gap:14px;flex-wrap:wrap;font-size:13px}
nav a{color:var(--info);text-decoration:none}
main{max-width:1180px;margin:0 auto;padding:16px 32px 48px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 20px;
margin:16px 0}
h2{font-size:18px;margin:0 0 10px;display:flex;align-items:center;gap:10px}
h2 .num{display:inline-block;background:#18212c;color:#fff;border-radius:50%;width:24px;height:24px;
text-align:center;font-size:13px;line-height:24px}
h3{font-size:15px;margin:16px 0 6px}
.verdict{display:grid;grid-template-columns:repeat(auto-fit,minmax(128px,1fr));gap:8px;margin:8px 0 4px}
.stage{background:#fff;border:1px solid var(--line);border-left:6px solid var(--absent);border-radius:6px;
padding:8px 10px}
.stage.pass{border-left-color:var(--pass)}.stage.warning{border-left-color:var(--warning)}
.stage.error{border-left-color:var(--error)}.stage.info{border-left-color:var(--info)}
.stage .name{font-weight:600;text-transform:capitalize}
.stage .badge{text-transform:none}
.stage .fig{font-size:12.5px;color:var(--muted);margin-top:3px;overflow-wrap:anywhere}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:11.5px;font-weight:600;color:#fff;
background:var(--absent);vertical-align:1px}
.badge.pass{background:var(--pass)}.badge.warning{background:var(--warning)}
.badge.error{background:var(--error)}.badge.info{background:var(--info)}
table{border-collapse:collapse;font-size:13px;margin:4px 0}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:#f0f3f6;font-weight:600}
table.kv th{font-weight:500;color:var(--muted);white-space:nowrap}
table.num td{text-align:right}table.num td:first-child{text-align:left}
.scroll{overflow-x:auto;max-width:100%}
.finding{border:1px solid var(--line);border-left:5px solid var(--info);border-radius:6px;padding:8px 12px;
margin:8px 0}
.finding.error{border-left-color:var(--error)}.finding.warning{border-left-color:var(--warning)}
.finding .code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-weight:600}
.finding .fix{color:#24492f}.finding .where{color:var(--muted);font-size:12px}
details{margin:4px 0}summary{cursor:pointer;color:var(--info)}
pre{background:#f6f8fa;border:1px solid var(--line);border-radius:4px;padding:8px;overflow-x:auto;
font-size:12px;white-space:pre-wrap;overflow-wrap:anywhere;max-height:360px}
figure{display:inline-block;margin:6px 12px 10px 0;vertical-align:top;max-width:100%}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:8px 16px}
.plots figure{margin:4px 0}.plots img.plot{width:100%}
figure img.plot{max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px;background:#fff}
figcaption{font-size:12px;color:var(--muted);max-width:560px}
.muted{color:var(--muted)}.missing{color:var(--absent)}
.stage.absent{background:#fafbfc}.stage.absent .name{color:var(--absent)}
.grid{display:flex;flex-wrap:wrap;gap:6px}
.rowlabel{width:140px;font-size:12.5px;overflow-wrap:anywhere;text-align:right}
.classrow{display:flex;gap:10px;align-items:center;margin:2px 0}
h3.top{margin-top:0}
img.thumb{image-rendering:pixelated;width:48px;height:48px;object-fit:contain;border:1px solid var(--line);
background:#000}
.tile{width:150px;font-size:12px;border:1px solid var(--line);border-radius:6px;padding:6px;background:#fff}
.tile img.thumb{width:64px;height:64px}
.tile .bad{color:var(--error)}.tile .good{color:var(--pass)}.tile .file{color:var(--muted);overflow-wrap:anywhere;font-size:11px}
.barchart{max-width:820px;margin:4px 0}
.barrow{display:grid;align-items:center;gap:10px;margin:1px 0}
.barhead{font-size:12px;color:var(--muted);font-weight:600}
.barlabel{text-align:right;font-size:12.5px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.barcell{display:flex;align-items:center;gap:6px}
.bar{height:11px;border-radius:2px;background:#5b8fd1;flex:none}
.bar.s1{background:#f0a04b}.bar.s2{background:#8bc18b}.bar.s3{background:#b58bd1}
.barval{font-size:11.5px;color:var(--muted);font-variant-numeric:tabular-nums}
td.cm{text-align:center;min-width:30px;font-variant-numeric:tabular-nums}
.twocol{display:grid;grid-template-columns:1fr 1fr;gap:16px}
@media (max-width:900px){.twocol{grid-template-columns:1fr}}
.next{background:#eef6ee;border:1px solid #bfdcbf;border-radius:6px;padding:8px 12px}
svg.spark{vertical-align:middle}
.kvgrid{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:2px 18px;font-size:13px}
.kvgrid div{border-bottom:1px solid var(--line);padding:3px 0;overflow-wrap:anywhere}
.kvgrid .k{color:var(--muted)}
footer{color:var(--muted);font-size:12px;text-align:center;margin:24px 0}
"""


def document(*, title: str, header: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    """The whole page: inline CSS, no script, a Content-Security-Policy that forbids fetching."""
    links = "".join(f"<a href='#{esc(a)}'>{esc(t)}</a>" for a, t in nav)
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{csp}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><link rel='icon' href='data:,'><style>{CSS}</style></head><body>"
        f"<header>{header}</header><nav>{links}</nav><main>{body}"
        "<footer>Made by nnrecipe from the run folder alone. Self-contained: no script, no "
        "network.</footer></main></body></html>"
    )


def thumb_html(item: dict[str, Any], alt: str) -> str:
    if item.get("png"):
        return png_img(base64.b64decode(item["png"]), alt=alt, cls="thumb")
    if item.get("series"):
        return sparkline(item["series"][0], width=96, height=40)
    return ""


def confusion_html(m: list[list[int]], names: list[str]) -> str:
    """A confusion matrix as a heat-mapped table (rows: true, columns: predicted)."""
    top = max((v for row in m for v in row), default=0)
    head = "".join(f"<th title='{esc(names[j])}'>{esc(names[j])}</th>" for j in range(len(m)))
    rows = []
    for i, row in enumerate(m):
        cells = "".join(f"<td class='cm' style='{heat(v, top)}'>{v}</td>" for v in row)
        rows.append(f"<tr><th>{esc(names[i])}</th>{cells}</tr>")
    return (
        f"<div class='scroll'><table class='confusion'><thead><tr><th>true \\ predicted</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def top_loss_tiles(tops: list[dict[str, Any]] | None, text: Any, what: str) -> str:
    """The top-losses grid: one tile per sample (thumbnail, index, loss, `text(tile)` HTML).
    None: shown elsewhere (a table's worst rows), no grid."""
    if tops is None:
        return ""
    head = f"<h3>Top losses (valid): {esc(what)}</h3>"
    if not tops:
        return head + absent("Not recorded.")
    tiles = []
    for t in tops:
        file = f"<div class='file'>{esc(t['file'])}</div>" if t.get("file") else ""
        tiles.append(
            f"<div class='tile'>{thumb_html(t, 'valid sample')}<div>valid #{esc(t.get('index'))}"
            f" · loss {fmt(t.get('loss'), 3)}</div>{text(t)}{file}</div>"
        )
    return (
        head
        + f"<div class='grid'>{''.join(tiles)}</div>"
        + note(
            "The samples the model gets most wrong: wrong labels, ambiguous inputs or a "
            "blind spot of the model. Fix the labels or collect more samples like these."
        )
    )


def iframe(page: str, *, height: int = 900) -> str:
    """A whole HTML page inside an isolated (sandboxed) iframe, for Jupyter."""
    return (
        f'<iframe srcdoc="{esc(page)}" style=\'width:100%;height:{int(height)}px;'
        "border:1px solid #ddd' sandbox></iframe>"
    )


def run_iframe(path: Any) -> str:
    """A finished run's report page (``report.html``) in an isolated iframe."""
    from pathlib import Path

    report = Path(path) / "report.html"
    if not report.is_file():
        return f"<p>{esc(path)}: no report.html (rebuild it with <code>nnrecipe report</code>).</p>"
    return iframe(report.read_text(encoding="utf-8"))
