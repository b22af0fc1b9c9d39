"Diffusion generators (ddpm, ccdm) through the real CLI, and their bank: the same on 1 or 2 processes and at any batch size."
import json, sys
from pathlib import Path
import numpy as np
import pytest
from conftest import ROOT, run_cli, comparable, TINY
from test_distributed import torchrun, shards, assert_same_bank, copy_networks

import diffusers  # noqa: F401 (the dev extra installs it; without it this file fails rather than skips)
pytestmark = pytest.mark.xdist_group('diffusion')  # one worker builds the module's torchrun run

ARGS = ['--preset', 'smoke', '--quiet', '--device', 'cpu', '--seed', '2', '--set', 'gan.name=ddpm', '--set', 'bank.shard_size=100', *TINY]
REG = ['--task', 'regression', '--preset', 'smoke', '--quiet', '--device', 'cpu', '--set', 'gan.name=ccdm', '--set', 'bank.n_fake=40',
       '--set', 'bank.max_samples=3000', '--set', 'bank.shard_size=500', *TINY]

def _report(out): return json.loads((Path(out)/'report.json').read_text())

def _check_report(rep, name):
    assert rep['generator']['name'] == name and rep['generator']['loss_last'] < rep['generator']['loss_first']
    assert rep['bank']['generated'] > 0 and rep['bank']['used_by_students'] > 0
    assert rep['students'] and all(np.isfinite(s['nokd']) and np.isfinite(s['cgankd']) for s in rep['students'])
    assert rep['diagnostics']['subsampling']['count'] > 0

@pytest.fixture(scope='module')
def ddpm_two(tmp_path_factory):
    "A ddpm smoke run on 2 processes (torchrun): DDP teacher, diffusion model, DRE, students; the bank written by both ranks."
    out = tmp_path_factory.mktemp('ddpm2')/'run'
    torchrun(2, 'run', '--out', out, *ARGS)
    return out

@pytest.fixture(scope='module')
def ddpm_one(ddpm_two, tmp_path_factory):
    "The same networks, the bank generated again by one process through the CLI."
    one = copy_networks(ddpm_two, tmp_path_factory.mktemp('ddpm1')/'run', ['students'])
    p = run_cli('run', '--out', one, *ARGS)
    assert '[gan] done, reusing' in p.stdout and '[bank] generating' in p.stdout
    return one

def test_ddpm_smoke_run(ddpm_two):
    _check_report(_report(ddpm_two), 'ddpm')
    assert (ddpm_two/'gan'/'G_ema.pt').exists() and not (ddpm_two/'gan'/'D.pt').exists()  # no discriminator

def test_ddpm_bank_same_on_one_and_two_processes(ddpm_two, ddpm_one):
    assert_same_bank(ddpm_two/'bank', ddpm_one/'bank')
    assert comparable(_report(ddpm_one)) == comparable(_report(ddpm_two))  # same bank -> same selections and students

def test_ddpm_bank_same_at_two_batch_sizes(ddpm_one):
    "Shards regenerated in-process from the run's networks at batch sizes 48 and 1024 equal the CLI's shards."
    sys.path.insert(0, str(ROOT))
    from cgankd.tasks import RunEnv
    from cgankd.bank import FakeBank, generate_shard
    from cgankd.pipeline import _stage_teacher, _stage_gan, _stage_dre
    x = RunEnv(json.loads((ddpm_one/'config.json').read_text()), ddpm_one, progress=False, log=lambda *a: None)
    teacher, _ = _stage_teacher(x)
    G, cond, st_g = _stage_gan(x)
    dr, _ = _stage_dre(x, G, cond, st_g.key)
    bank = FakeBank(ddpm_one/'bank')
    for k in (0, len(shards(ddpm_one/'bank')) - 1):
        with np.load(bank.shard_path(k)) as ref:
            for bs in (48, 1024):
                got = generate_shard(G, dr, teacher, k, bank.meta, batch_size=bs)
                for f in ('images', 'index', 'label', 'log_ratio', 'teacher_pred', 'teacher_loss'):
                    np.testing.assert_array_equal(got[f], ref[f], err_msg=f'shard {k} batch {bs}: {f}')

def test_ccdm_smoke_run(tmp_path):
    out = tmp_path/'ccdm'
    run_cli('run', '--out', out, *REG)
    rep = _report(out)
    _check_report(rep, 'ccdm')
    assert set(rep['generator']['vicinal']) == {'sigma', 'kappa', 'nu'}
    assert (out/'gan'/'y2h'/'done.json').exists()  # conditioned through the CcGAN's label embedding
