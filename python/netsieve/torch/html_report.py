"""One self-contained HTML page of an analysis :class:`~netsieve.torch.report.Report`: the model
summary, a sortable and filterable per-layer table (by block and role, from
:func:`netsieve._layer_names.block_and_role`), the per-depth plots and each layer's ESD with its
fitted bulk law (and the tail of λ = s² with its power law). CSS, script and plots (base64 PNG from
matplotlib) are inline and a Content-Security-Policy forbids every fetch, so the page opens offline
and never touches the network.

The page's script honours a fragment ``#sort=<column>&dir=asc|desc&q=<text>&role=<role>&block=<n>``
(the state of the controls, kept in the address so a view can be shared); when it has applied it,
``<body data-ready="1">``. Columns are the ``data-key`` of the table header cells.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import math
import os
from typing import Any

from .._files import atomic_write_text
from .._plotting import pyplot

__all__ = ["write_html", "render_html"]

# (key, header, LayerReport attribute or callable, number format); the key is the #sort= name.
_COLUMNS: list[tuple[str, str, Any, str]] = [
    ("name", "layer", "name", ""), ("block", "block", None, "d"), ("role", "role", None, ""),
    ("rows", "rows", "rows", "d"), ("cols", "cols", "cols", "d"), ("sigma", "σ", "sigma", ".4g"),
    ("bulk", "bulk", "bulk", ""), ("spread", "τ", "spread", ".2f"), ("spikes", "spikes", "n_spikes", "d"),
    ("mp_spikes", "MP spikes", "mp_n_spikes", "d"), ("p_mp", "p (MP)", "mp_ks_pvalue", ".2g"),
    ("soft_rank", "MP soft rank", "mp_soft_rank", ".3f"), ("pt", "PT boundary", "porter_thomas_boundary", "d"),
    ("mean_r", "⟨r⟩", "mean_r", ".3f"), ("norm", "‖W‖₂", "spectral_norm", ".4g"), ("stable_rank", "stable rank", "stable_rank", ".1f"),
    ("effective_rank", "effective rank", "effective_rank", ".1f"), ("alpha", "α", "alpha", ".2f"),
    ("power_law", "power-law-like", "power_law_like", ""), ("error", "error", "error", ""),
]  # fmt: skip

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}
td.t,th.t{text-align:left}th{background:#eef;cursor:pointer;position:sticky;top:0}th.asc::after{content:" ▲"}th.desc::after{content:" ▼"}
tr.err td{background:#fee}tr.hidden{display:none}.controls{margin:.6em 0}.controls *{margin-right:.8em}
dl.sum{display:grid;grid-template-columns:max-content auto;gap:2px 1em}dl.sum dt{font-weight:600}dl.sum dd{margin:0}
img{max-width:100%}.scroll{overflow-x:auto;max-height:80vh}details{margin:.3em 0}summary{cursor:pointer}.muted{color:#777}
"""

_JS = r"""
(function(){
  var table=document.getElementById('layers'), body=table.tBodies[0], heads=table.tHead.rows[0].cells;
  var q=document.getElementById('q'), role=document.getElementById('role'), block=document.getElementById('block');
  var state={sort:'',dir:'asc'};
  function value(row,i){var c=row.cells[i];var v=c.getAttribute('data-v');if(v===null)return c.textContent;
    if(v==='')return null;var n=Number(v);return isNaN(n)?v:n;}
  function sortBy(key,dir){
    var i=-1;for(var j=0;j<heads.length;j++){heads[j].classList.remove('asc','desc');if(heads[j].dataset.key===key)i=j;}
    if(i<0)return;state.sort=key;state.dir=dir;heads[i].classList.add(dir);
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){var x=value(a,i),y=value(b,i);
      if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
      var r=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));
      return dir==='desc'?-r:r;});
    rows.forEach(function(r){body.appendChild(r);});
  }
  function applyFilter(){
    var text=q.value.toLowerCase(), rv=role.value, bv=block.value, shown=0;
    Array.prototype.forEach.call(body.rows,function(r){
      var ok=(!text||r.dataset.name.toLowerCase().indexOf(text)>=0)&&(!rv||r.dataset.role===rv)&&(!bv||r.dataset.block===bv);
      r.classList.toggle('hidden',!ok);if(ok)shown++;});
    document.getElementById('shown').textContent=shown+' of '+body.rows.length+' layers shown';
  }
  function save(){var p=[];if(state.sort)p.push('sort='+state.sort,'dir='+state.dir);
    if(q.value)p.push('q='+encodeURIComponent(q.value));if(role.value)p.push('role='+encodeURIComponent(role.value));
    if(block.value)p.push('block='+encodeURIComponent(block.value));
    try{history.replaceState(null,'',p.length?'#'+p.join('&'):location.pathname);}catch(e){}}
  Array.prototype.forEach.call(heads,function(h){h.addEventListener('click',function(){
    sortBy(h.dataset.key,state.sort===h.dataset.key&&state.dir==='asc'?'desc':'asc');save();});});
  [q,role,block].forEach(function(el){el.addEventListener('input',function(){applyFilter();save();});});
  var frag={};location.hash.replace(/^#/,'').split('&').forEach(function(kv){var i=kv.indexOf('=');
    if(i>0)frag[kv.slice(0,i)]=decodeURIComponent(kv.slice(i+1));});
  if(frag.q)q.value=frag.q;if(frag.role)role.value=frag.role;if(frag.block)block.value=frag.block;
  if(frag.sort)sortBy(frag.sort,frag.dir==='desc'?'desc':'asc');
  applyFilter();document.body.setAttribute('data-ready','1');
})();
"""


def _fmt(value: Any, spec: str) -> tuple[str, str]:
    """(shown text, sort value) of one cell; None and non-finite numbers sort last."""
    if value is None:
        return "—", ""
    if isinstance(value, bool):
        return ("yes" if value else "no"), str(int(value))
    if isinstance(value, (int, float)) and spec:
        if isinstance(value, float) and not math.isfinite(value):
            return str(value), ""
        return format(value, spec), repr(float(value)) if isinstance(value, float) else str(value)
    return str(value), str(value)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _layer_figure(report: Any, name: str) -> str:
    from .report_plots import plot_esd, plot_tail

    fig, axes = pyplot().subplots(1, 2, figsize=(10, 3.6))
    plot_esd(report, name, axes[0])
    plot_tail(report, name, axes[1])
    fig.tight_layout()
    return _png(fig)


def _depth_figure(report: Any) -> str | None:
    """σ, α, spikes and MP soft rank against the block index, one line per role
    (:func:`netsieve.torch.depth.plot_depth`); None when fewer than two blocks are known."""
    from .depth import by_block, plot_depth

    if len({s.block for s in by_block(report)}) < 2:
        return None
    return _png(plot_depth(report))


def _table(report: Any) -> tuple[str, list[str], list[int]]:
    head = "".join(f'<th data-key="{k}" class="{"t" if not spec else ""}">{html.escape(h)}</th>' for k, h, _, spec in _COLUMNS)
    rows, roles, blocks = [], set(), set()
    for r in report.rows:
        block, role = r.block, r.role
        roles.add(role)
        if block is not None:
            blocks.add(block)
        cells = []
        for key, _, attr, spec in _COLUMNS:
            value = block if key == "block" else role if key == "role" else getattr(r, attr, None)
            if not r.ok and key not in ("name", "block", "role", "rows", "cols", "error"):
                value = None
            text, sort = _fmt(value, spec)
            cells.append(f'<td class="{"t" if not spec else ""}" data-v="{html.escape(sort)}">{html.escape(text)}</td>')
        attrs = f'data-name="{html.escape(r.name)}" data-role="{role}" data-block="{"" if block is None else block}"'
        rows.append(f'<tr {attrs}{" class=err" if not r.ok else ""}>{"".join(cells)}</tr>')
    body = f'<div class=scroll><table id="layers"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    return body, sorted(roles), sorted(blocks)


def render_html(report: Any, title: str | None = None) -> str:
    """The page as a string (see :func:`write_html`)."""
    from netsieve import __version__

    title = title or f"netsieve analysis of {report.source}"
    s = report.summary
    table, roles, blocks = _table(report)
    summary = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(_fmt(v, '.4g' if isinstance(v, float) else '')[0] if not isinstance(v, list) else (', '.join(v) or '—'))}</dd>"
        for k, v in s.items()
    )
    options = ", ".join(f"{k}={v}" for k, v in report.options.items())
    skipped = "".join(f"<li>{html.escape(str(x))}</li>" for x in report.skipped)
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p class=muted>netsieve {__version__}, "
        f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}; options: {html.escape(options)}</p>",
        f"<h2>Summary</h2><dl class=sum>{summary}</dl>",
        "<h2>Layers</h2><div class=controls><input id=q type=search placeholder='filter by name'>",
        "<select id=role><option value=''>all roles</option>" + "".join(f"<option>{r}</option>" for r in roles) + "</select>",
        "<select id=block><option value=''>all blocks</option>" + "".join(f"<option>{b}</option>" for b in blocks) + "</select>",
        "<span id=shown></span></div>",
        "<p class=muted>Click a column to sort. α means something only where power-law-like is yes.</p>",
        table,
    ]
    if skipped:
        parts.append(f"<details><summary>{len(report.skipped)} tensors or files skipped</summary><ul>{skipped}</ul></details>")
    if report.analysed:
        depth = _depth_figure(report)
        parts.append("<h2>Per depth</h2>" + (f"<img alt='by block and role' src='{depth}'>" if depth else ""))
        parts.append(f"<img alt='per-layer summary' src='{_png(report.plot_summary())}'>")
        parts.append("<h2>Spectra</h2><p class=muted>Singular values against the fitted bulk law (spikes in red), "
                     "and the tail of λ = s² with its power law.</p>")
        for r in report.analysed:
            parts.append(f"<details id='esd-{html.escape(r.name)}'><summary>{html.escape(r.name)} "
                         f"({r.rows}×{r.cols}, {r.n_spikes} spikes)</summary>"
                         f"<img alt='spectrum of {html.escape(r.name)}' src='{_layer_figure(report, r.name)}'></details>")
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts)


def write_html(report: Any, path: str | os.PathLike, title: str | None = None) -> None:
    """Writes the report page (module docs) atomically; see :meth:`Report.to_html`."""
    from .._files import check_outputs

    check_outputs([("html report", path)], report.inputs)
    atomic_write_text(path, render_html(report, title))
