"""``FOLDER/index.html``: the runs of a folder as one self-contained, sortable page.

No external asset: the CSS and a few lines of script (click a column header to sort) are
inline, and the Content-Security-Policy forbids fetching anything. Every value read from a
run folder goes through `nnrecipe.html.esc`; links are relative (``NAME/report.html``), so
the folder can be moved or served as it is.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

from nnrecipe.html import CSS, esc
from nnrecipe.io import atomic_write_text
from nnrecipe.runs.listing import RunRow, score_text

INDEX = "index.html"
HEADER = (
    "run", "status", "data", "task", "model", "epochs", "lr", "batch", "metric", "valid",
    "test", "findings",
)  # fmt: skip
NUMERIC = {"lr", "batch", "valid", "test"}

# Click a header: sort by it (again: the other way). Numbers sort by their data-v value.
SCRIPT = """
document.querySelectorAll('table.runs th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0], up = th.dataset.dir !== 'up';
    th.dataset.dir = up ? 'up' : 'down';
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v || a.cells[col].textContent;
      var y = b.cells[col].dataset.v || b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return up ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""
STYLE = """
table.runs th{cursor:pointer;user-select:none}table.runs td.num{text-align:right;
font-variant-numeric:tabular-nums}.status-finished{color:var(--pass)}
.status-interrupted{color:var(--warning)}.status-unreadable{color:var(--error)}
table.runs td.nw{white-space:nowrap}
"""


def _cell(value: object, *, cls: str = "", sort: object = None) -> str:
    v = "" if sort is None else f" data-v='{esc(sort)}'"
    c = f" class='{cls}'" if cls else ""
    return f"<td{c}{v}>{esc(value)}</td>"


def _row(r: RunRow, folder: Path) -> str:
    page = r.report
    if page is not None:
        href = quote(str(page.relative_to(folder)).replace("\\", "/"))
        name = f"<td><a href='{esc(href)}'>{esc(r.name)}</a></td>"
    else:
        name = _cell(r.name)
    status = _cell(r.status, cls=f"status-{r.status}")
    if r.status == "unreadable":
        return f"<tr>{name}{status}<td colspan='10'>{esc(r.problem)}</td></tr>"
    severity = sum(n * 1000**i for i, n in enumerate(reversed(list(r.findings.values()))))
    cells = [
        _cell(r.data or "—"),
        _cell(r.task or "—"),
        _cell(r.model or "—"),
        _cell(r.epochs or "—"),
        _cell("—" if r.lr is None else r.lr, cls="num", sort=r.lr),
        _cell("—" if r.batch_size is None else r.batch_size, cls="num", sort=r.batch_size),
        _cell(r.metric or "—"),
        _cell(score_text(r.valid), cls="num", sort=r.valid),
        _cell(score_text(r.test), cls="num", sort=r.test),
        _cell(
            r.findings_text() if r.findings else "—",
            cls="nw",
            sort=severity if r.findings else None,
        ),
    ]
    return f"<tr>{name}{status}{''.join(cells)}</tr>"


def index_html(rows: list[RunRow], folder: Path) -> str:
    """The page listing `rows` (run folders of `folder`)."""
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
    head = "".join(f"<th>{esc(h)}</th>" for h in HEADER)
    body = "".join(_row(r, folder) for r in rows) or (
        f"<tr><td colspan='{len(HEADER)}'>no runs yet</td></tr>"
    )
    counts = {
        s: sum(r.status == s for r in rows) for s in ("finished", "interrupted", "unreadable")
    }
    sub = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "empty"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{csp}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>runs: {esc(folder.name)}</title><link rel='icon' href='data:,'>"
        f"<style>{CSS}{STYLE}</style></head><body><header><h1>Runs in {esc(folder)}</h1>"
        f"<div class='sub'>{esc(sub)} · written {esc(time.strftime('%Y-%m-%d %H:%M:%S'))} "
        "by nnrecipe runs · click a column to sort</div></header><main><section>"
        f"<div class='scroll'><table class='runs'><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div></section>"
        "<footer>Self-contained: no network. Each run links to its report.html.</footer>"
        f"</main><script>{SCRIPT}</script></body></html>"
    )


def write_index(folder: Path, rows: list[RunRow]) -> Path:
    """Write ``FOLDER/index.html`` (atomically) and return its path."""
    path = Path(folder) / INDEX
    atomic_write_text(path, index_html(rows, Path(folder)))
    return path
