"Reliability (issue 15): every bad flag refused before training, one writer per run directory, Ctrl-C and SIGKILL resume to the uninterrupted result, readable files, warnings in the report, verified bank shards. Real subprocesses of `python -m cgankd.cli` throughout."
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
from conftest import ROOT, comparable, stopped, default_sigint
pytestmark = pytest.mark.xdist_group('reliability')  # one worker builds this file's shared run (pytest -n: --dist loadgroup)

# toy schedules (as tests/test_stages.py FAST), with n_fake given as a flag so that a bad --n-fake placed after it wins
FAST = ['--preset', 'smoke', '--quiet', '--set', 'teacher.steps=20', '--set', 'gan.steps=10', '--set', 'dre.steps=10',
        '--set', 'dre.feature_steps=10', '--set', 'student.steps=10', '--set', 'student.archs=["cnn_small"]',
        '--set', 'bank.max_samples=2000', '--set', 'bank.shard_size=100', '--n-fake', '100']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT)}

def start(*args, stop_at=None, **kw) -> subprocess.Popen:
    "Start the real `cgankd` console script (with `stop_at`, it stops itself there: `cgankd.core.stop_point`)."
    env = ENV if stop_at is None else {**ENV, 'CGANKD_STOP_AT': str(stop_at)}
    return subprocess.Popen([sys.executable, '-m', 'cgankd.cli', *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env=env, preexec_fn=lambda: (os.umask(0o022), default_sigint()), **kw)  # a usual shared-machine umask

def finish(p:subprocess.Popen, timeout=300):
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err

def wait_for(cond, timeout=240, what=''):
    t = time.time()
    while not cond():
        if time.time() - t > timeout: raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)

def report(out:Path) -> dict: return json.loads((out/'report.json').read_text())

@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    "One uninterrupted run; while it runs, a second `cgankd run` on the same directory (with another seed) is started."
    out = tmp_path_factory.mktemp('ref')/'run'
    a = start('run', '--out', out, *FAST)
    wait_for(lambda: (out/'.lock').exists() and (out/'.lock').stat().st_size > 0, what='the first run to take the lock')
    os.kill(a.pid, signal.SIGSTOP); t_stop = time.time()  # the first run holds the lock, paused (a toy run could otherwise end first)
    try:
        b = start('run', '--out', out, *FAST, '--seed', '1')
        t = time.time(); rb = finish(b); b_s = time.time() - t
        a_running = a.poll() is None
    finally: os.kill(a.pid, signal.SIGCONT); paused_s = time.time() - t_stop
    ra = finish(a)
    return dict(out=out, a=ra, b=rb, b_s=b_s, a_running=a_running, pid=a.pid, paused_s=paused_s)  # (its timings include the pause)

def test_second_writer_fails_fast_first_finishes(reference):
    rc, out, err = reference['b']
    assert reference['a_running'], "the first run had finished before the second was refused: the test proves nothing"
    assert rc == 2 and 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
    assert 'another cgankd run is writing this directory' in err and f"pid {reference['pid']}" in err, err
    assert reference['a'][0] == 0, reference['a'][2]
    rep, cfg = report(reference['out']), json.loads((reference['out']/'config.json').read_text())
    assert rep['seed'] == 0 and cfg['seed'] == 0  # the directory holds the first run's results alone

def test_report_bank_counts_and_files_readable(reference):
    out, rep = reference['out'], report(reference['out'])
    assert rep['selection']['name'] == 'subsampling+filtering'  # the default method: the students train on the filtered set
    assert rep['bank']['used_by_students'] == rep['selection']['n'] == rep['bank']['kept_filtering']
    modes = {str(p.relative_to(out)): p.stat().st_mode & 0o777 for p in out.rglob('*') if p.is_file()}
    unreadable = {k: oct(m) for k, m in modes.items() if m & 0o044 != 0o044}
    assert len(modes) > 20 and not unreadable, unreadable  # umask 022: every file readable by group and others

# every bad flag: exit 2, one line on stderr, no traceback, nothing trained, no config.json left behind
def _npy_renamed(d): np.save(d/'a.npy', np.zeros(3)); shutil.copy(d/'a.npy', d/'x.npz'); return ['--data', d/'x.npz']
def _text(d): (d/'t.npz').write_text('hello'); return ['--data', d/'t.npz']
def _out_file(d): (d/'f').write_text('x'); return 'FILE'
def _sel_folder(d): (d/'run'/'selections').mkdir(parents=True); return ['--selection', 'nope']
BAD = {
    'device-tpu': (['--device', 'tpu'], "device 'tpu'"),
    'steps-abc': (['--set', 'gan.steps=abc'], "config gan.steps: expected an integer >= 1, got 'abc'"),
    'config-missing': (['--config', '/nonexistent/c.yaml'], '--config /nonexistent/c.yaml: no such file'),
    'rho-0': (['--rho', '0'], 'select.rho (--rho): expected a number in (0, 1]'),
    'rho-1.5': (['--rho', '1.5'], 'got 1.5'),
    'n-fake-0': (['--n-fake', '0'], 'bank.n_fake (--n-fake): expected an integer >= 1, got 0'),
    'n-fake-neg': (['--n-fake', '-5'], 'got -5'),
    'out-empty': ('EMPTY', '--out is empty'),
    'out-file': (_out_file, 'is a file, expected a run directory'),
    'selection': (['--selection', 'nope'], "no selection named 'nope'"),
    'selection-folder': (_sel_folder, "no selection named 'nope'"),
    'data-dir': (lambda d: ['--data', d], 'is a directory, expected an .npz file'),
    'data-text': (_text, 'not an .npz file (no zip archive signature)'),
    'data-npy': (_npy_renamed, 'a single NumPy array (.npy), expected an .npz archive'),
}
import torch
if not torch.cuda.is_available(): BAD['device-cuda'] = (['--device', 'cuda'], 'CUDA is not available')

@pytest.fixture(scope='module')
def bad_runs(tmp_path_factory):
    "All bad-flag runs, started at once (each is a separate process)."
    procs = {}
    for name, (extra, _) in BAD.items():
        d = tmp_path_factory.mktemp(name)
        extra = extra(d) if callable(extra) else extra
        out = {'EMPTY': '', 'FILE': d/'f'}.get(extra if isinstance(extra, str) else None, d/'run')
        args = [] if isinstance(extra, str) else extra
        procs[name] = (start('run', '--out', out, *FAST, *args), Path(out) if str(out) else None)
    return {k: (*finish(p), out) for k, (p, out) in procs.items()}

@pytest.mark.parametrize('name', list(BAD))
def test_bad_flag_refused_before_training(bad_runs, name):
    rc, _, err, out = bad_runs[name]
    assert rc == 2 and 'Traceback' not in err, err
    assert len(err.strip().splitlines()) == 1 and err.startswith('cgankd: error: ') and BAD[name][1] in err, err
    if out is not None and out.is_dir():
        assert not list(out.rglob('*.pt')) and not (out/'config.json').exists(), sorted(map(str, out.rglob('*')))
    assert not list(Path(ROOT).glob('*.pt')) and not (Path(ROOT)/'config.json').exists()  # --out "" did not write into cwd

def test_sigint_exits_130_and_resumes_to_the_same_result(reference, tmp_path):
    out = tmp_path/'run'
    w0 = time.time(); p = start('run', '--out', out, *FAST, stop_at=f"{out/'bank'}@0")  # it stops itself after the bank's first shard
    wait_for(lambda: stopped(p.pid) or p.poll() is not None, what='the run to reach its first bank shard')
    try: assert p.poll() is None and not (out/'report.json').exists(), 'the run ended before it could be interrupted'
    finally: p.send_signal(signal.SIGINT); os.kill(p.pid, signal.SIGCONT)  # Ctrl-C, landing as it continues
    rc, so, err = finish(p)
    assert rc == 130 and 'Traceback' not in err, (rc, so, err)
    assert (out/'bank'/'shard_00000.npz').exists() and not (out/'students').exists()  # it stopped in the bank stage
    assert len(err.strip().splitlines()) == 1 and 'run the same command again to resume' in err, err
    assert not (out/'report.json').exists()
    p = start('run', '--out', out, *FAST); rc, so, err = finish(p); wall = time.time() - w0  # both invocations, start to end
    assert rc == 0, err
    assert '[teacher] done, reusing' in so
    ref, rep = report(reference['out']), report(out)
    assert comparable(rep) == comparable(ref)
    t_ref, t = ref['timings_s']['total'] - reference['paused_s'], rep['timings_s']['total']  # the reference's time less its pause
    # every invocation's time is counted (at least most of an uninterrupted run's), and none twice (no more than the wall time)
    assert 0.8 * t_ref <= t <= wall, (t, t_ref, wall, rep['timings_s'], ref['timings_s'])

def test_stale_lock_of_a_killed_run_is_taken_over(reference, tmp_path):
    out = tmp_path/'run'
    p = start('run', '--out', out, *FAST)
    wait_for(lambda: (out/'teacher'/'ckpt.pt').exists() or (out/'teacher'/'done.json').exists(), what='the teacher to checkpoint')
    p.send_signal(signal.SIGKILL); p.wait()
    assert json.loads((out/'.lock').read_text())['pid'] == p.pid  # the dead process's lock file is still there
    q = start('run', '--out', out, *FAST); rc, _, err = finish(q)
    assert rc == 0, err
    assert json.loads((out/'.lock').read_text())['pid'] == q.pid
    assert comparable(report(out)) == comparable(report(reference['out']))

def _bank(out:Path):
    from cgankd.bank import FakeBank
    b = FakeBank(out/'bank')
    t = b.table()
    return t, b.images(t['index'])

def test_truncated_duplicated_flipped_shards_are_named_and_regenerated(reference, tmp_path):
    ref = reference['out']
    out = tmp_path/'run'; shutil.copytree(ref, out)
    shards = sorted((out/'bank').glob('shard_*.npz'))
    assert len(shards) >= 4, shards
    s0, s1, s2 = shards[:3]
    s0.write_bytes(s0.read_bytes()[:len(s0.read_bytes()) // 2])           # truncated
    shutil.copy(shards[3], s1)                                            # a copy of another shard
    b = bytearray(s2.read_bytes()); b[len(b) // 3] ^= 0x10; s2.write_bytes(bytes(b))   # one flipped bit in the images
    p = start('run', '--out', out, *FAST); rc, so, err = finish(p)
    assert rc == 0, err
    for s in (s0, s1, s2): assert s.name in err, err                      # each one named
    assert len(list((out/'bank'/'corrupt').iterdir())) == 3               # and kept aside
    (t_ref, x_ref), (t, x) = _bank(ref), _bank(out)
    assert all(np.array_equal(t_ref[f], t[f]) for f in t) and np.array_equal(x_ref, x)  # the bank equals the uninterrupted one
    r, rr = report(out), report(ref)
    assert r['students'] == rr['students'] and r['bank'] == rr['bank']
    assert sum('generated again' in n for n in r['notes']) == 3, r['notes']  # and the report says what happened

def test_warnings_go_into_report_notes(reference, tmp_path):
    out = tmp_path/'run'; shutil.copytree(reference['out'], out)
    p = start('run', '--out', out, *FAST, '--n-fake', '5000'); rc, _, err = finish(p)  # more than the capped bank (2000) can give
    assert rc == 0, err
    notes = report(out)['notes']
    assert any(n.startswith('bank: after 2000 fakes') and 'could not fill every arm' in n for n in notes), notes
    assert 'could not fill every arm' in err  # still shown as it happens
