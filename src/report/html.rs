//! `--html FILE`: one self-contained page for a whole run — no network, no external script,
//! font or image (a Content-Security-Policy of `default-src 'none'` says so to the browser too).
//!
//! Layout: counts by verdict and two charts (pending days, patch lag) as inline SVG drawn
//! here; a machine table the page's own small script renders from data embedded in the page,
//! a page of rows at a time (a 10,000-machine run stays quick to open), sortable by every
//! column and filterable by verdict and text; each row opens into the machine's findings,
//! what was not evaluated, warnings and errors, pending file operations and packages, and for a
//! machine read from a disk container what the container says about itself.
//!
//! Streaming: each machine becomes one element of a JSON array written as it arrives; the
//! counts and the charts, known only at the end, are written after it and shown above the
//! table by CSS (`order`). Only one small row of numbers per machine is held for the charts.
//!
//! Escaping, twice over:
//! - every string from evidence first goes through [`escape::text`] (control and invisible
//!   format characters shown as `\x{HH}`, as in the text report), so U+202E cannot reorder a
//!   row and an escape sequence shows as such;
//! - the embedded JSON has `<`, `>`, `&`, U+2028 and U+2029 written as `\uXXXX`
//!   ([`script_safe_json`]), so no hive string can end the `<script>` element holding it
//!   (`</script>`) or open a comment in it; the script puts strings into the page only as text
//!   (`textContent`), never as markup;
//! - the little markup written here from evidence-derived text (chart labels, counts) goes
//!   through [`html`], which escapes `&`, `<`, `>`, `"` and `'`.
//!
//! The page's fragment drives the view, so a link (or a test) can open it filtered and sorted:
//! `#verdict=pending&q=KB5039212&sort=days&order=desc&page=2&open=1` (`open=1` expands every row
//! of the page).

use std::fmt::Write as _;
use std::io::{self, Write};

use serde_json::{json, Value};

use crate::report::escape;
use crate::report::MachineReport;
use crate::rules::NotEvaluatedReason;
use crate::verdict::Verdict;

/// Escapes text for an HTML element or a quoted attribute (after [`escape::text`]).
pub fn html(text: &str) -> String {
    let text = escape::text(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that can sit inside a `<script>` element: `<`, `>` and `&` (which could close the
/// element or open a comment) and U+2028/U+2029 (line terminators to older script parsers)
/// written as `\uXXXX` escapes. They can occur only inside JSON strings, where the escape means
/// the same character, so the data reads back unchanged.
pub fn script_safe_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A string from evidence as the page shows it.
fn shown(text: &str) -> Value {
    Value::String(escape::text(text).into_owned())
}

fn shown_opt(text: Option<&str>) -> Value {
    text.map(shown).unwrap_or(Value::Null)
}

fn time(t: Option<crate::load::filetime::FileTime>) -> Value {
    t.and_then(|t| t.to_rfc3339()).map(Value::String).unwrap_or(Value::Null)
}

/// One machine as the page's script reads it. Short arrays rather than objects for the
/// repeated lists keep a 10,000-machine page small.
fn machine_data(report: &MachineReport) -> Value {
    let strongest = report.strongest_finding();
    let patch = report.patch.as_ref();
    let security = report.security.as_ref().filter(|s| s.status == crate::security::SecurityStatus::Assessed);
    let findings: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            // File operations have their own table: the rest of the data (counts, anomalies)
            // stays with the finding.
            let mut data = serde_json::to_value(&f.data).unwrap_or(Value::Null);
            if let Some(object) = data.as_object_mut() {
                if object.get("operations").is_some_and(|o| o.is_array()) {
                    object.remove("operations");
                }
            }
            let data = if data.is_null() || data.as_object().is_some_and(|o| o.is_empty()) {
                String::new()
            } else {
                data.to_string()
            };
            json!([
                f.strength.label(),
                f.rule.as_str(),
                f.hive.label(),
                shown(&f.key),
                shown_opt(f.value.as_deref()),
                shown(&data),
                time(f.last_write),
                shown(&f.summary),
                f.notes.iter().map(|n| shown(n)).collect::<Vec<_>>(),
                shown(&f.hive_path),
            ])
        })
        .collect();
    let volatile = report.volatile_rules();
    let not_evaluated: Vec<Value> = report
        .not_evaluated
        .iter()
        .filter(|n| n.reason != NotEvaluatedReason::Volatile)
        .map(|n| json!([n.rule.as_str(), n.reason.label(), shown(&n.detail)]))
        .collect();
    let mut warnings: Vec<String> = Vec::new();
    for hive in &report.hives {
        for warning in &hive.warnings {
            let line = format!("{}: {warning}", hive.path);
            if !warnings.contains(&line) {
                warnings.push(line);
            }
        }
    }
    let errors: Vec<Value> = report.errors.iter().map(|e| json!([shown(&e.file), shown(&e.message)])).collect();
    let operations: Vec<Value> = crate::report::tables::operation_rows(report)
        .into_iter()
        // machine, computer_name, value, key, strength, index, op, source, target, class,
        // replace_existing, …
        .map(|row| {
            json!([
                shown(&row[2]),
                shown(&row[4]),
                shown(&row[5]),
                shown(&row[6]),
                shown(&row[7]),
                shown(&row[8]),
                shown(&row[9]),
                shown(&row[10]),
                shown(&row[14]),
                shown(&row[16]),
            ])
        })
        .collect();
    let packages: Vec<Value> =
        report
            .pending_updates
            .packages
            .iter()
            .map(|p| json!([shown(&p.label()), shown(&p.state_name), time(p.install_time), time(p.key_last_write)]))
            .chain(report.pending_updates.reboot_required_updates.iter().map(|guid| {
                json!([shown(&format!("Windows Update {guid}")), "RebootRequired", Value::Null, Value::Null])
            }))
            .collect();
    json!({
        "m": shown(&report.machine),
        "c": shown_opt(report.computer_name.as_deref()),
        "src": shown(&report.source),
        "ct": report
            .container
            .as_ref()
            .map(|c| c.lines().into_iter().map(|(label, value)| json!([label, shown(&value)])).collect::<Vec<_>>()),
        "v": report.verdict.label(),
        "why": shown_opt(report.verdict_reason.as_deref()),
        "t": time(report.evidence_time),
        "since": time(report.pending_since),
        "days": report.pending_days,
        "top": strongest.map(|f| format!("{} ({})", f.rule.as_str(), f.strength.label())),
        "patch": patch.map(|p| shown(&short_patch(p))),
        "patchfull": patch.map(|p| shown(&p.summary())),
        "kb": shown_opt(patch.and_then(|p| p.kb())),
        "behind": patch.and_then(|p| p.monthly_updates_behind),
        "cves": security.map(|s| s.missing_cves),
        "kev": security.map(|s| s.exploited_missing.len()),
        "dup": shown_opt(report.duplicate_of.as_deref()),
        "cs": shown_opt(report.control_set.as_deref()),
        "f": findings,
        "vol": volatile,
        "ne": not_evaluated,
        "w": warnings.iter().map(|w| shown(w)).collect::<Vec<_>>(),
        "e": errors,
        "ops": operations,
        "pkg": packages,
        "pkgby": shown_opt(report.pending_updates.found_by_detail.as_deref()),
    })
}

/// The patch level in a table cell: `Windows 11 23H2 22631.3593 · KB5037771 (2024-05-14) · 1
/// behind`; the full sentence is the cell's tooltip and in the machine's details.
fn short_patch(patch: &crate::patch::PatchAssessment) -> String {
    let mut parts = Vec::new();
    let product = [patch.product.map(str::to_string), patch.version.clone(), patch.build.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !product.is_empty() {
        parts.push(product);
    }
    match &patch.update {
        Some(update) => parts.push(format!("{} ({})", update.kb, update.released)),
        None => parts.push(patch.status.label().to_string()),
    }
    match patch.monthly_updates_behind {
        Some(0) => parts.push("current".into()),
        Some(n) => parts.push(format!("{n} behind")),
        None => {}
    }
    if patch.servicing.status == crate::patch::ServicingStatus::Ended {
        parts.push(patch.servicing_label());
    }
    parts.join(" · ")
}

const HEAD: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="rebootscan">
<title>rebootscan report</title>
<style>
body{font:13px system-ui,sans-serif;margin:1em 1.5em;display:flex;flex-direction:column;color:#1d1d1d;background:#fff}
h1{font-size:1.4em;margin:.2em 0 .4em;order:-2}
#summary{order:-1}
#controls{margin:.8em 0 .4em;display:flex;gap:.6em;align-items:center;flex-wrap:wrap}
#q{padding:4px 6px;width:28em;max-width:100%}
button,select{padding:3px 8px}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e2e2e2;padding:4px 6px;text-align:left;vertical-align:top}
th{cursor:pointer;background:#f1f3f5;position:sticky;top:0;white-space:nowrap;user-select:none}
th[aria-sort=ascending]::after{content:" \25B2"}th[aria-sort=descending]::after{content:" \25BC"}
td.n,th.n{text-align:right}
td.src{min-width:10em;max-width:20em;overflow-wrap:anywhere;color:#555;font-size:12px}
td.name{min-width:12em;overflow-wrap:anywhere}td.patch{min-width:13em}
tr.machine td{border-bottom:none;padding-bottom:0}tr.more td{padding-top:0}
tr.machine:hover,tr.machine:hover+tr.more{background:#f8f9fb}
.finding{margin:.3em 0 .5em}.s-strong{color:#b3261e;font-weight:600}.s-medium{color:#9a6700;font-weight:600}
.pending{color:#b3261e;font-weight:600}.unknown{color:#9a6700;font-weight:600}.not_pending{color:#1a7f37}
.counts{display:flex;gap:1em;flex-wrap:wrap;margin:.2em 0 .8em}
.counts div{border:1px solid #ddd;border-radius:6px;padding:.4em 1em;min-width:7em}
.counts b{display:block;font-size:1.8em}
.charts{display:flex;gap:2.5em;flex-wrap:wrap}
figure{margin:0}figcaption{font-weight:600;margin-bottom:.3em}
details{margin:.2em 0}summary{cursor:pointer;color:#0b57d0}
.detail{padding:.3em 0 .6em .8em;border-left:3px solid #d0d7de}
.detail h4{margin:.6em 0 .2em;font-size:13px}
.detail table{font-size:12px;margin-bottom:.3em}.detail td.mono{min-width:5em}
.detail th{position:static;cursor:default}
code,.mono{font:12px ui-monospace,monospace;overflow-wrap:anywhere}
.muted{color:#666}
#pager{margin:.5em 0}
</style></head><body>
<h1>rebootscan report</h1>
<noscript><p><b>The machine table needs JavaScript</b> (the page's own script, embedded: nothing is fetched). The counts and charts above need none.</p></noscript>
<div id="controls"><input id="q" type="search" placeholder="filter: machine, computer, source, rule, KB, path…" aria-label="filter machines">
<select id="verdict" aria-label="verdict"><option value="">all verdicts</option><option value="pending">pending</option><option value="unknown">unknown</option><option value="not_pending">not pending</option></select>
<select id="size" aria-label="rows per page"><option>50</option><option selected>100</option><option>500</option><option>1000</option></select>
<span id="shown" class="muted"></span></div>
<table id="machines"><thead><tr><th data-key="v">verdict</th><th data-key="m">machine</th><th data-key="c">computer</th><th data-key="src">source</th><th data-key="top">strongest evidence</th><th data-key="since">pending since</th><th data-key="days" class="n">days</th><th data-key="patch">patch level</th><th data-key="behind" class="n">updates behind</th><th data-key="cves" class="n">missing CVEs</th><th data-key="kev" class="n">KEV</th></tr></thead><tbody></tbody></table>
<div id="pager"><button id="prev">&#8592; previous</button> <span id="page"></span> <button id="next">next &#8594;</button></div>
<script type="application/json" id="data">[
"#;

/// The page's script. It reads the embedded data and writes strings only with
/// `textContent` / `createTextNode`.
const SCRIPT: &str = r#"<script>
(function(){
'use strict';
var t0=performance.now();
var data=JSON.parse(document.getElementById('data').textContent);
var RANK={pending:0,unknown:1,not_pending:2};
var body=document.querySelector('#machines tbody');
var q=document.getElementById('q'),verdict=document.getElementById('verdict'),size=document.getElementById('size');
var shownEl=document.getElementById('shown'),pageEl=document.getElementById('page');
var state={q:'',verdict:'',sort:'',order:'asc',page:1,open:false};
data.forEach(function(m,i){m.i=i;m.hay=[m.m,m.c,m.src,m.v,m.top,m.patch,m.kb,m.why,m.dup].concat(m.f.map(function(f){return f[1]+' '+f[3]+' '+(f[4]||'');}),m.pkg.map(function(p){return p[0];}),m.ops.map(function(o){return o[4]+' '+o[5];})).join('\n').toLowerCase();});
function el(tag,text,cls){var e=document.createElement(tag);if(text!==undefined&&text!==null)e.textContent=String(text);if(cls)e.className=cls;return e;}
function readHash(){var h=location.hash.replace(/^#/,'');state={q:'',verdict:'',sort:'',order:'asc',page:1,open:false};
 h.split('&').forEach(function(kv){if(!kv)return;var p=kv.indexOf('='),k=p<0?kv:kv.slice(0,p),v=p<0?'':decodeURIComponent(kv.slice(p+1).replace(/\+/g,' '));
  if(k==='q'||k==='filter'){if(RANK.hasOwnProperty(v)&&k==='filter')state.verdict=v;else state.q=v;}
  else if(k==='verdict')state.verdict=RANK.hasOwnProperty(v)?v:'';else if(k==='sort')state.sort=v;else if(k==='order')state.order=v==='desc'?'desc':'asc';
  else if(k==='page')state.page=Math.max(1,parseInt(v,10)||1);else if(k==='open')state.open=v!=='0';else if(k==='size'&&/^[0-9]+$/.test(v))size.value=v;});
 q.value=state.q;verdict.value=state.verdict;}
function writeHash(){var parts=[];if(state.verdict)parts.push('verdict='+state.verdict);if(state.q)parts.push('q='+encodeURIComponent(state.q));
 if(state.sort){parts.push('sort='+state.sort);parts.push('order='+state.order);}if(state.page>1)parts.push('page='+state.page);if(state.open)parts.push('open=1');
 var h=parts.length?'#'+parts.join('&'):'';if(h!==location.hash){history.replaceState(null,'',h||location.pathname+location.search);}}
function blank(x){return x===null||x===undefined||x==='';}
function cmp(key,desc){return function(a,b){var x=a[key],y=b[key];if(key==='v'){x=RANK[x];y=RANK[y];}
 if(blank(x)||blank(y))return blank(x)&&blank(y)?a.i-b.i:(blank(x)?1:-1);
 var r=typeof x==='number'&&typeof y==='number'?x-y:String(x).localeCompare(String(y),undefined,{numeric:true});return (desc?-r:r)||a.i-b.i;};}
var view=data;
function compute(){var needle=state.q.toLowerCase();view=data.filter(function(m){return(!state.verdict||m.v===state.verdict)&&(!needle||m.hay.indexOf(needle)>=0);});
 if(state.sort)view.sort(cmp(state.sort,state.order==='desc'));
 else view.sort(function(a,b){return RANK[a.v]-RANK[b.v]||(blank(b.days)?-1:0)-(blank(a.days)?-1:0)||(b.days||0)-(a.days||0)||a.i-b.i;});}
function table(head,rows){var t=el('table'),tr=el('tr');head.forEach(function(h){tr.appendChild(el('th',h));});var th=el('thead');th.appendChild(tr);t.appendChild(th);var tb=el('tbody');
 rows.forEach(function(r){var row=el('tr');r.forEach(function(c,i){var td=el('td',Array.isArray(c)?c.join('; '):c);if(i>2)td.className='mono';row.appendChild(td);});tb.appendChild(row);});t.appendChild(tb);return t;}
function details(m){var d=el('div',null,'detail');
 function line(label,text){if(text===null||text===undefined||text==='')return;var p=el('div');p.appendChild(el('b',label+': '));p.appendChild(document.createTextNode(text));d.appendChild(p);}
 line('verdict reason',m.why);line('source',m.src);line('evidence time',m.t);line('control set',m.cs);line('duplicate of',m.dup);line('patch level',m.patchfull);
 if(m.ct)m.ct.forEach(function(c){line(c[0],c[1]);});
 if(m.cves!==null&&m.cves!==undefined)line('missing security fixes',m.cves+' CVE(s), '+m.kev+' known exploited (KEV)');
 d.appendChild(el('h4','findings ('+m.f.length+')'));
 if(!m.f.length)d.appendChild(el('div','none','muted'));
 m.f.forEach(function(f){var b=el('div',null,'finding');var h=el('div');h.appendChild(el('span','['+f[0]+'] ','s-'+f[0]));h.appendChild(el('b',f[1]));h.appendChild(document.createTextNode(' \u2014 '+f[7]));b.appendChild(h);
  var k=el('div',f[2]+'\\'+f[3]+(f[4]!==null?' : '+f[4]:''),'mono');b.appendChild(k);
  var meta=el('div',null,'muted');meta.appendChild(document.createTextNode('last write '+(f[6]||'unknown')+' \u00b7 file '));meta.appendChild(el('span',f[9],'mono'));b.appendChild(meta);
  if(f[5])b.appendChild(el('div','data '+f[5],'mono muted'));f[8].forEach(function(n){b.appendChild(el('div','note: '+n,'muted'));});d.appendChild(b);});
 if(m.ops.length){d.appendChild(el('h4','pending file operations ('+m.ops.length+')'));d.appendChild(table(['value','strength','#','op','source','target','class','replace','current version','staged version'],m.ops));}
 if(m.pkg.length||m.pkgby){d.appendChild(el('h4','packages waiting for the reboot ('+m.pkg.length+')'));if(m.pkgby)d.appendChild(el('div',m.pkgby,'muted'));if(m.pkg.length)d.appendChild(table(['package','state','install time','key last write'],m.pkg));}
 if(m.ne.length||m.vol.length){d.appendChild(el('h4','not evaluated'));if(m.vol.length)d.appendChild(el('div','not observable in a hive saved from disk (volatile): '+m.vol.join(', '),'muted'));if(m.ne.length)d.appendChild(table(['rule','reason','detail'],m.ne));}
 if(m.w.length){d.appendChild(el('h4','warnings'));m.w.forEach(function(w){d.appendChild(el('div',w,'mono'));});}
 if(m.e.length){d.appendChild(el('h4','errors'));d.appendChild(table(['file','message'],m.e));}
 return d;}
function plural(n,one){return n+' '+one+(n===1?'':'s');}
function outline(m){var parts=[plural(m.f.length,'finding')];if(m.ops.length)parts.push(plural(m.ops.length,'file operation'));if(m.pkg.length)parts.push(plural(m.pkg.length,'package'));
 if(m.ne.length)parts.push(m.ne.length+' not evaluated');if(m.w.length)parts.push(plural(m.w.length,'warning'));if(m.e.length)parts.push(plural(m.e.length,'error'));return parts.join(' \u00b7 ');}
function render(){var t=performance.now();compute();var per=parseInt(size.value,10)||100,pages=Math.max(1,Math.ceil(view.length/per));if(state.page>pages)state.page=pages;
 var start=(state.page-1)*per,slice=view.slice(start,start+per),frag=document.createDocumentFragment();
 slice.forEach(function(m){var tr=el('tr',null,'machine');tr.dataset.verdict=m.v;
  var v=el('td',m.v.replace('_',' '),m.v);tr.appendChild(v);
  var name=el('td',m.m,'name');tr.appendChild(name);
  tr.appendChild(el('td',m.c));tr.appendChild(el('td',m.src,'src'));tr.appendChild(el('td',m.top));tr.appendChild(el('td',m.since));
  tr.appendChild(el('td',m.days,'n'));var p=el('td',m.patch,'patch');if(m.patchfull)p.title=m.patchfull;tr.appendChild(p);tr.appendChild(el('td',m.behind,'n'));tr.appendChild(el('td',m.cves,'n'));tr.appendChild(el('td',m.kev,'n'));
  frag.appendChild(tr);
  var more=el('tr',null,'more'),cell=el('td');cell.colSpan=11;var det=el('details');det.appendChild(el('summary',outline(m)));
  det.addEventListener('toggle',function(){if(det.open&&det.childNodes.length<2)det.appendChild(details(m));});
  if(state.open){det.open=true;det.appendChild(details(m));}
  cell.appendChild(det);more.appendChild(cell);frag.appendChild(more);});
 body.textContent='';body.appendChild(frag);
 shownEl.textContent=view.length+' of '+data.length+' machines';shownEl.dataset.shown=view.length;
 pageEl.textContent='page '+state.page+' of '+pages;document.getElementById('prev').disabled=state.page<=1;document.getElementById('next').disabled=state.page>=pages;
 document.querySelectorAll('#machines th').forEach(function(th){if(th.dataset.key===state.sort)th.setAttribute('aria-sort',state.order==='desc'?'descending':'ascending');else th.removeAttribute('aria-sort');});
 document.body.dataset.renderMs=(performance.now()-t).toFixed(1);writeHash();}
document.querySelectorAll('#machines th').forEach(function(th){th.addEventListener('click',function(){var k=th.dataset.key;
 if(state.sort===k)state.order=state.order==='asc'?'desc':'asc';else{state.sort=k;state.order=(k==='days'||k==='behind'||k==='cves'||k==='kev')?'desc':'asc';}state.page=1;render();});});
q.addEventListener('input',function(){state.q=q.value;state.page=1;render();});
verdict.addEventListener('change',function(){state.verdict=verdict.value;state.page=1;render();});
size.addEventListener('change',function(){state.page=1;render();});
document.getElementById('prev').addEventListener('click',function(){state.page--;render();});
document.getElementById('next').addEventListener('click',function(){state.page++;render();});
window.addEventListener('hashchange',function(){readHash();render();});
readHash();render();
document.body.dataset.loadMs=(performance.now()-t0).toFixed(1);
// From navigation start: reading the file, parsing the page, the data and the first render.
document.body.dataset.readyMs=performance.now().toFixed(0);
})();
</script>"#;

/// Pending-days buckets of the chart: (lowest, highest, label).
const DAY_BUCKETS: &[(i64, i64, &str)] =
    &[(0, 0, "0"), (1, 7, "1–7"), (8, 30, "8–30"), (31, 90, "31–90"), (91, 365, "91–365"), (366, i64::MAX, ">365")];
/// Monthly-updates-behind buckets.
const LAG_BUCKETS: &[(i64, i64, &str)] =
    &[(0, 0, "0"), (1, 1, "1"), (2, 3, "2–3"), (4, 6, "4–6"), (7, 12, "7–12"), (13, i64::MAX, ">12")];

/// Streams the HTML report, one machine at a time.
pub struct HtmlWriter<W: Write> {
    out: W,
    written: usize,
    /// Pending, unknown, not pending.
    counts: [usize; 3],
    with_errors: usize,
    /// Per bucket of [`DAY_BUCKETS`], pending machines only; then how many had no date.
    pending_days: Vec<usize>,
    pending_undated: usize,
    /// Per bucket of [`LAG_BUCKETS`]; then machines whose patch lag is not known.
    lag: Vec<usize>,
    lag_unknown: usize,
    /// Assessed machines with any KEV-listed missing CVE.
    with_kev: usize,
}

impl<W: Write> HtmlWriter<W> {
    /// Writes the page up to the embedded data's opening.
    pub fn new(mut out: W) -> io::Result<HtmlWriter<W>> {
        out.write_all(HEAD.as_bytes())?;
        Ok(HtmlWriter {
            out,
            written: 0,
            counts: [0; 3],
            with_errors: 0,
            pending_days: vec![0; DAY_BUCKETS.len()],
            pending_undated: 0,
            lag: vec![0; LAG_BUCKETS.len()],
            lag_unknown: 0,
            with_kev: 0,
        })
    }

    /// Writes one machine.
    pub fn write(&mut self, report: &MachineReport) -> io::Result<()> {
        self.counts[match report.verdict {
            Verdict::Pending => 0,
            Verdict::Unknown => 1,
            Verdict::NotPending => 2,
        }] += 1;
        if !report.errors.is_empty() {
            self.with_errors += 1;
        }
        if report.verdict == Verdict::Pending {
            match report.pending_days {
                Some(days) => bucket(&mut self.pending_days, DAY_BUCKETS, days),
                None => self.pending_undated += 1,
            }
        }
        match report.patch.as_ref().and_then(|p| p.monthly_updates_behind) {
            Some(behind) => bucket(&mut self.lag, LAG_BUCKETS, i64::from(behind)),
            None => self.lag_unknown += 1,
        }
        if report.security.as_ref().is_some_and(|s| !s.exploited_missing.is_empty()) {
            self.with_kev += 1;
        }
        if self.written > 0 {
            self.out.write_all(b",\n")?;
        }
        self.out.write_all(script_safe_json(&machine_data(report).to_string()).as_bytes())?;
        self.written += 1;
        Ok(())
    }

    /// Ends the data, writes the counts, the charts and the script, flushes and gives the
    /// writer back.
    pub fn finish(mut self) -> io::Result<W> {
        let [pending, unknown, not_pending] = self.counts;
        let mut summary = String::from("\n]</script>\n<div id=\"summary\"><div class=\"counts\">");
        for (id, class, label, count) in [
            ("count-machines", "", "machines", self.written),
            ("count-pending", "pending", "pending", pending),
            ("count-unknown", "unknown", "unknown", unknown),
            ("count-not_pending", "not_pending", "not pending", not_pending),
            ("count-errors", "", "with errors", self.with_errors),
            ("count-kev", "", "missing a KEV-listed fix", self.with_kev),
        ] {
            let _ = write!(
                summary,
                "<div id=\"{id}\" data-count=\"{count}\"><b class=\"{class}\">{count}</b>{}</div>",
                html(label)
            );
        }
        summary.push_str("</div><div class=\"charts\">");
        summary.push_str(&histogram(
            "pending-days",
            "Pending machines by days waiting for the reboot",
            &self.pending_days,
            DAY_BUCKETS,
            (self.pending_undated > 0).then(|| format!("{} pending machine(s) without a date", self.pending_undated)),
            "#b3261e",
        ));
        summary.push_str(&histogram(
            "patch-lag",
            "Machines by monthly updates behind",
            &self.lag,
            LAG_BUCKETS,
            (self.lag_unknown > 0).then(|| format!("{} machine(s) with no known patch level", self.lag_unknown)),
            "#0b57d0",
        ));
        summary.push_str("</div></div>\n");
        self.out.write_all(summary.as_bytes())?;
        self.out.write_all(SCRIPT.as_bytes())?;
        self.out.write_all(b"\n</body></html>\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn bucket(counts: &mut [usize], buckets: &[(i64, i64, &str)], value: i64) {
    if let Some(index) = buckets.iter().position(|(low, high, _)| (*low..=*high).contains(&value)) {
        counts[index] += 1;
    }
}

/// A bar chart (inline SVG) of the counts per bucket.
fn histogram(
    id: &str,
    title: &str,
    counts: &[usize],
    buckets: &[(i64, i64, &str)],
    note: Option<String>,
    colour: &str,
) -> String {
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    let (bar, gap, height, top) = (52usize, 14usize, 120usize, 16usize);
    let width = buckets.len() * (bar + gap) + gap;
    let mut svg = format!(
        "<figure id=\"{id}\"><figcaption>{}</figcaption><svg width=\"{width}\" height=\"{}\" role=\"img\" aria-label=\"{}\">",
        html(title),
        top + height + 22,
        html(title)
    );
    let _ =
        write!(svg, "<line x1=\"0\" y1=\"{}\" x2=\"{width}\" y2=\"{}\" stroke=\"#999\"/>", top + height, top + height);
    for (i, ((_, _, label), count)) in buckets.iter().zip(counts).enumerate() {
        let h = if *count == 0 { 0 } else { (count * height / most).max(2) };
        let x = gap + i * (bar + gap);
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{h}\" fill=\"{colour}\" data-bucket=\"{}\" data-count=\"{count}\"><title>{}: {count}</title></rect>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{count}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            top + height - h,
            html(label),
            html(label),
            x + bar / 2,
            top + height - h - 3,
            x + bar / 2,
            top + height + 15,
            html(label)
        );
    }
    svg.push_str("</svg>");
    if let Some(note) = note {
        let _ = write!(svg, "<div class=\"muted\">{}</div>", html(&note));
    }
    svg.push_str("</figure>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_from_evidence_is_escaped() {
        assert_eq!(html("</script><b x=\"1\">&'"), "&lt;/script&gt;&lt;b x=&quot;1&quot;&gt;&amp;&#39;");
        assert_eq!(html("a\u{1b}[31m\u{202e}"), "a\\x{1b}[31m\\x{202e}");
    }

    #[test]
    fn embedded_json_cannot_end_its_script_and_reads_back() {
        let value = json!({"k": "</script><!--\u{2028}&\u{2029}>"});
        let safe = script_safe_json(&value.to_string());
        for bad in ["<", ">", "&", "\u{2028}", "\u{2029}"] {
            assert!(!safe.contains(bad), "{safe}");
        }
        assert_eq!(serde_json::from_str::<Value>(&safe).unwrap(), value);
    }
}
