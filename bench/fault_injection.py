"""Fault injection on smoke runs: kill (SIGKILL), interrupt (SIGINT), corrupt bank shards and race two writers at random
points, then resume, and check that every run ends with the uninterrupted result.

    OMP_NUM_THREADS=1 python bench/fault_injection.py --trials 30 --jobs 2

Prints one line per trial and finally `N trials, K lost or wrong`; exits 1 when K > 0.
"""
import argparse, json, os, random, shutil, signal, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FAST = ['--preset', 'smoke', '--quiet', '--set', 'teacher.steps=20', '--set', 'gan.steps=10', '--set', 'dre.steps=10',
        '--set', 'dre.feature_steps=10', '--set', 'student.steps=10', '--set', 'student.archs=["cnn_small"]',
        '--set', 'bank.max_samples=2000', '--set', 'bank.shard_size=100', '--n-fake', '100']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT)}

def start(out):
    return subprocess.Popen([sys.executable, '-m', 'cgankd.cli', 'run', '--out', str(out), *FAST], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)

def finish(p, timeout=1200):
    o, e = p.communicate(timeout=timeout); return p.returncode, o, e

def result(out:Path):
    "What must not change: the report without timings and notes, and the bank's table and images."
    sys.path.insert(0, str(ROOT))
    from cgankd.bank import FakeBank
    rep = json.loads((out/'report.json').read_text())
    b = FakeBank(out/'bank'); t = b.table()
    return {k: v for k, v in rep.items() if k not in ('timings_s', 'notes')}, t, b.images(t['index'])

def same(a, b) -> bool:
    return a[0] == b[0] and all(np.array_equal(a[1][f], b[1][f]) for f in a[1]) and np.array_equal(a[2], b[2])

def corrupt(out:Path, rng) -> str:
    shards = sorted((out/'bank').glob('shard_*.npz'))
    if not shards: return 'no shard yet'
    s = shards[rng.integers(len(shards))]
    how = ['truncate', 'duplicate', 'flip'][rng.integers(3)]
    if how == 'truncate': s.write_bytes(s.read_bytes()[:rng.integers(1, s.stat().st_size)])
    elif how == 'duplicate' and len(shards) > 1: shutil.copy(next(x for x in shards if x != s), s)
    else:
        b = bytearray(s.read_bytes()); b[rng.integers(len(b))] ^= 1 << int(rng.integers(8)); s.write_bytes(bytes(b)); how = 'flip'
    return f"{how} {s.name}"

def trial(i:int, seed:int, ref, ref_dir:Path, t_ref:float, work:Path) -> tuple[bool, str]:
    rng = np.random.default_rng([seed, i])
    kind = ['kill', 'sigint', 'corrupt', 'race', 'kill+corrupt'][rng.integers(5)]
    out, what = work/f'trial{i}', kind
    if kind == 'corrupt':
        shutil.copytree(ref_dir, out, ignore=shutil.ignore_patterns('.lock')); what += ': ' + corrupt(out, rng)
    elif kind in ('kill', 'sigint', 'kill+corrupt'):
        p = start(out); at = float(rng.uniform(0.5, t_ref))
        if kind == 'sigint':  # Ctrl-C once the run has begun (while Python is still importing, it prints its own traceback)
            while not (out/'.lock').exists() and p.poll() is None: time.sleep(0.05)
            at = float(rng.uniform(0, 0.7 * t_ref))
        time.sleep(at)
        p.send_signal(signal.SIGINT if kind == 'sigint' else signal.SIGKILL); rc, _, err = finish(p)
        what += f" at {at:.1f}s (rc {rc})"
        if kind == 'sigint' and rc not in (0, 130): return False, f"{what}: exit {rc}: {err.strip()[-300:]}"
        if kind == 'sigint' and rc == 130 and ('Traceback' in err or 'resume' not in err): return False, f"{what}: bad message {err!r}"
        if kind == 'kill+corrupt': what += ', ' + corrupt(out, rng)
    else:  # race: two writers at once, the second a random moment later
        a = start(out); time.sleep(float(rng.uniform(0, t_ref / 2))); b = start(out)
        (ra, _, ea), (rb, _, eb) = finish(a), finish(b)
        what += f" (rc {ra}, {rb})"
        if sorted((ra, rb)) not in ([0, 0], [0, 2]): return False, f"{what}: {ea.strip()[-200:]} {eb.strip()[-200:]}"
        if 2 in (ra, rb) and 'another cgankd run is writing' not in (ea + eb): return False, f"{what}: refusal not explained"
    rc, _, err = finish(start(out))  # resume (or rerun) to the end
    if rc != 0: return False, f"{what}: resume exit {rc}: {err.strip()[-300:]}"
    ok = same(result(out), ref)
    shutil.rmtree(out, ignore_errors=True)
    return ok, what + ('' if ok else ': RESULT DIFFERS')

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--trials', type=int, default=30); ap.add_argument('--jobs', type=int, default=1)
    ap.add_argument('--seed', type=int, default=0); ap.add_argument('--work', default=None)
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix='cgankd-faults-')); work.mkdir(parents=True, exist_ok=True)
    ref_dir = work/'reference'
    t0 = time.time(); rc, _, err = finish(start(ref_dir)); t_ref = time.time() - t0
    if rc != 0: sys.exit(f"reference run failed: {err}")
    ref = result(ref_dir)
    print(f"reference run: {t_ref:.1f}s", flush=True)
    bad = 0
    with ThreadPoolExecutor(a.jobs) as ex:
        for i, (ok, what) in enumerate(ex.map(lambda i: trial(i, a.seed, ref, ref_dir, t_ref, work), range(a.trials))):
            bad += not ok; print(f"trial {i}: {'ok' if ok else 'LOST OR WRONG'}: {what}", flush=True)
    print(f"{a.trials} trials, {bad} lost or wrong")
    sys.exit(1 if bad else 0)

if __name__ == '__main__': main()
