#!/usr/bin/env python3
"""Independent count of the missing CVEs of the test machines in tests/security.rs.

Reads WES-NG's definitions.zip, CISA's KEV JSON and the DataForGeeks build list straight from
../shared/data (no project code), and prints, per machine, the numbers tests/security.rs holds as
literals. Rule, as stated in the README: a product's rows are those whose AffectedProduct, with
whitespace collapsed, equals the machine's MSRC name without regard to case (25H2's "for ARM
systems" counts as ARM64); a KB is a cumulative update when the build list has it for the
machine's build (date and UBR from there, the earliest row when a KB has two UBRs); a CVE is
missing when its newest cumulative-update fix released on or before the as-of date is later than
the installed update (later day, or same day with a higher UBR when neither is a hotpatch); it is
fixed after the reboot when that fix is not later than the pending update; its severity is the
highest of its rows with a numeric KB.

Usage: python3 tests/security/expected.py [shared data dir, default ../shared/data]
"""
import csv, io, json, sys, zipfile, collections

data = sys.argv[1] if len(sys.argv) > 1 else '../shared/data'

# (name, MSRC product, build, installed UBR, pending UBR or None, as-of YYYY-MM-DD)
MACHINES = [
    ('win10_22h2', 'Windows 10 Version 22H2 for x64-based Systems', '19045', 3803, 4046, '2024-03-20'),
    ('win11_23h2', 'Windows 11 Version 23H2 for x64-based Systems', '22631', 2861, None, '2024-06-30'),
    ('win11_24h2_arm64', 'Windows 11 Version 24H2 for ARM64-based Systems', '26100', 2894, None, '2025-04-30'),
    ('server2019_core', 'Windows Server 2019 (Server Core installation)', '17763', 7314, None, '2025-09-01'),
    ('server2022', 'Windows Server 2022', '20348', 2159, None, '2024-08-01'),
    ('win10_22h2_newest', 'Windows 10 Version 22H2 for x64-based Systems', '19045', None, None, '2026-06-28'),
]

builds = json.load(open(f'{data}/windows-builds/buildnumbers.json'))['data']
kev = {v['cveID'] for v in json.load(open(f'{data}/kev/known_exploited_vulnerabilities.json'))['vulnerabilities']}
SEV = {'low': 1, 'moderate': 2, 'important': 3, 'critical': 4}

def norm(product):
    p = ' '.join(product.split()).lower()
    return p.replace('25h2 for arm systems', '25h2 for arm64-based systems')

wanted = {m[1].lower() for m in MACHINES}
rows = collections.defaultdict(list)  # product -> [(cve, kb, severity)]
posted = collections.defaultdict(collections.Counter)  # (product, kb) -> DatePosted counts
with zipfile.ZipFile(f'{data}/msrc-cves/definitions.zip') as z:
    name = next(n for n in z.namelist() if n.startswith('CVEs_'))
    with z.open(name) as f:
        for r in csv.DictReader(io.TextIOWrapper(f, encoding='utf-8', newline='')):
            p = norm(r['AffectedProduct'])
            kb = r['BulletinKB'].strip()
            cve = r['CVE'].strip()
            if p in wanted and kb.isdigit() and cve:
                if cve.startswith('CVE') and '-' not in cve:
                    cve = f'CVE-{cve[3:7]}-{cve[7:]}'
                rows[p].append((cve, int(kb), SEV.get(r['Severity'].strip().lower(), 0)))
                posted[(p, int(kb))][r['DatePosted']] += 1

for name, product, build, installed_ubr, pending_ubr, as_of in MACHINES:
    cu = {}  # kb -> (date, ubr, hotpatch)
    by_ubr = {}
    for b in builds:
        number, ubr = b['build'].split('.')
        if number != build:
            continue
        entry = (b['release_date'], int(ubr), b['release_type'].startswith('Hotpatch'))
        kb = int(b['kb_article'][2:])
        by_ubr[int(ubr)] = (kb,) + entry
        if kb not in cu or entry[:2] < cu[kb][:2]:
            cu[kb] = entry
    if installed_ubr is None:  # the newest release of the build up to the as-of date
        installed_ubr = max((v[1], v[2]) for v in by_ubr.values() if v[1] <= as_of)[1]
    inst = by_ubr[installed_ubr]
    pend = by_ubr[pending_ubr] if pending_ubr else None

    def later(fix, base):
        return fix[0] != base[0] and (fix[1] > base[1] or (fix[1] == base[1] and fix[2] > base[2] and not fix[3] and not base[3]))

    per_cve = collections.defaultdict(list)
    for cve, kb, sev in rows[product.lower()]:
        per_cve[cve].append((kb, sev))
    missing, critical, after_reboot, exploited, not_judged = 0, 0, 0, [], 0
    oldest, newest = None, None
    for cve, fixes in per_cve.items():
        cus = [(kb,) + cu[kb] for kb, _ in fixes if kb in cu and cu[kb][0] <= as_of]
        if not any(kb in cu for kb, _ in fixes):
            # Only other updates: not judged, when one of them is out by the as-of date (its date
            # is the most frequent DatePosted of its rows, earliest on a tie).
            def kb_date(kb):
                counts = posted[(product.lower(), kb)]
                best = max(counts.items(), key=lambda c: (c[1], -int(c[0])))[0]
                return f'{best[:4]}-{best[4:6]}-{best[6:]}'
            if any(kb_date(kb) <= as_of for kb, _ in fixes):
                not_judged += 1
            continue
        if not cus:
            continue
        fix = max(cus, key=lambda f: (f[1], f[2]))
        if not later(fix, inst):
            continue
        missing += 1
        if max(s for _, s in fixes) == 4:
            critical += 1
        if pend and not later(fix, pend):
            after_reboot += 1
        if cve in kev:
            exploited.append(cve)
        oldest = fix if oldest is None or (fix[1], fix[2]) < (oldest[1], oldest[2]) else oldest
        newest = fix if newest is None or (fix[1], fix[2]) > (newest[1], newest[2]) else newest
    print(f'{name}: installed KB{inst[0]} ({build}.{installed_ubr}, {inst[1]}); missing {missing}, critical {critical}, '
          f'fixed after reboot {after_reboot}, not judged {not_judged}, KEV {len(exploited)} {sorted(exploited)}, '
          f'oldest {oldest and ("KB%d" % oldest[0], oldest[1])}, closing {newest and ("KB%d" % newest[0], newest[1])}')
