import os, sys, subprocess, json
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

# one thread per process: results are bit-identical across the runs a test compares, and the suite's processes (xdist
# workers, notebook kernels, CLI runs) share 2 cores: torch's default of one thread per core in each of them
# oversubscribes the cores. Set before any test module imports torch; subprocesses inherit it.
for _v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ.setdefault(_v, '1')
CLI_ENV = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')

def run_cli(*args, check=True, timeout=600):
    "Run the real `cgankd` console script in a subprocess."
    p = subprocess.run([sys.executable, '-m', 'cgankd.cli', *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                       env=CLI_ENV)
    if check and p.returncode != 0: raise AssertionError(f"cgankd {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p

def default_sigint():
    "`preexec_fn` for a child that is sent SIGINT: Ctrl-C's default action, even where this process inherited SIGINT ignored (a job started in the background by a non-interactive shell)."
    import signal; signal.signal(signal.SIGINT, signal.SIG_DFL)

def stopped(pid) -> bool:
    "Whether process `pid` is stopped (state T in /proc/PID/stat): it reached the `cgankd.core.stop_point` a test named."
    try: return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] == 'T'
    except (FileNotFoundError, IndexError): return False

def comparable(report):
    "A report without its wall-clock timings (which differ between runs)."
    return {k: v for k, v in report.items() if k != 'timings_s'}

@pytest.fixture(scope='session')
def smoke_run(tmp_path_factory):
    "One uninterrupted smoke run of the CLI on the bundled digits, shared by the tests that read it."
    out = tmp_path_factory.mktemp('smoke')
    p = run_cli('run', '--data', 'digits', '--task', 'classification', '--out', out, '--preset', 'smoke', '--quiet', '--tensorboard')
    return out, json.loads((out/'report.json').read_text()), p

# Even shorter schedules for tests that only check that a data set flows through every stage (32x32 images are 16x the
# pixels of the bundled digits).
TINY = ['--set', 'teacher.arch="cnn_small"', '--set', 'teacher.steps=30', '--set', 'gan.steps=30', '--set', 'dre.steps=30',
        '--set', 'dre.feature_steps=20', '--set', 'student.steps=30', '--set', 'student.archs=["cnn_small"]']
